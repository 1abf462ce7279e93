//! Test support: a shop on the real service over an in-memory SQLite store, with a clock the
//! test moves, and a text rendering of a person's stored phase summary and transitions.

use std::sync::Arc;

use embudo_core::{Event, EventKind, Map, Timestamp, Value};
use embudo_store::{IdentityKind, WorkspaceId};
use embudo_store_sqlite::SqliteStore;
use expect_test::Expect;

use crate::{Embudo, FixedClock, ServiceSettings};

pub(crate) const START: &str = "2026-03-02T10:00:00Z";

/// One `track` event: minutes after [`START`], its name, its properties.
pub(crate) type Track<'a> = (i64, &'a str, &'a [(&'a str, Value)]);

/// A `track` event of the anonymous `person`, received when it happened.
pub(crate) fn track_event(
    message_id: String,
    person: &str,
    at: Timestamp,
    name: &str,
    properties: Value,
) -> Event {
    Event {
        message_id,
        kind: EventKind::Track,
        name: Some(name.into()),
        anonymous_id: Some(person.into()),
        user_id: None,
        previous_id: None,
        group_id: None,
        timestamp: at,
        received_at: at,
        properties,
        traits: Value::Map(Map::default()),
        context: Value::Map(Map::default()),
    }
}

/// A properties map.
pub(crate) fn properties_of(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(key, value)| ((*key).into(), value.clone()))
            .collect::<Map>(),
    )
}

pub(crate) struct Shop {
    pub(crate) embudo: Embudo,
    pub(crate) clock: Arc<FixedClock>,
    pub(crate) workspace: WorkspaceId,
}

impl Shop {
    pub(crate) async fn new() -> Shop {
        Shop::with_settings(ServiceSettings::default()).await
    }

    /// A shop with the audiences of a configuration file's text.
    pub(crate) async fn with_audiences(config: &str) -> Shop {
        let config = embudo_config::check("tienda.toml", config).unwrap();
        Shop::with_settings(ServiceSettings {
            audiences: config.audiences,
            ..ServiceSettings::default()
        })
        .await
    }

    pub(crate) async fn with_settings(settings: ServiceSettings) -> Shop {
        let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
        let clock = Arc::new(FixedClock::new(Timestamp::parse(START).unwrap()));
        let embudo = Embudo::new(store, clock.clone(), settings);
        let workspace = embudo
            .create_workspace("tienda")
            .await
            .unwrap()
            .workspace
            .id;
        Shop {
            embudo,
            clock,
            workspace,
        }
    }

    /// Ingests `track` events of one anonymous person, `minutes` after the start, and processes.
    pub(crate) async fn send(&self, person: &str, events: &[Track<'_>]) {
        let start = Timestamp::parse(START).unwrap();
        let events: Vec<Event> = events
            .iter()
            .enumerate()
            .map(|(n, (minutes, name, properties))| {
                let at = start.plus_millis(minutes * 60_000);
                track_event(
                    format!("{person}-{n}"),
                    person,
                    at,
                    name,
                    properties_of(properties),
                )
            })
            .collect();
        self.clock
            .set(events.last().unwrap().timestamp.plus_millis(1000));
        self.embudo.ingest(self.workspace, &events).await.unwrap();
        self.embudo.process_all().await.unwrap();
    }

    pub(crate) async fn sweep_at(&self, days: f64) -> crate::reevaluate::ReevaluateOutcome {
        self.clock
            .set(Timestamp::parse(START).unwrap().plus_days(days));
        self.embudo.reevaluate_all().await.unwrap()
    }

    /// The person's stored phase summary and transitions, one per line.
    pub(crate) async fn check(&self, person: &str, expect: Expect) {
        let store = self.embudo.store();
        let profile = store
            .profile_by_identity(self.workspace, IdentityKind::Anonymous, person)
            .await
            .unwrap()
            .unwrap();
        let mut lines = vec![format!(
            "now: phase {} substate {} stage {} audiences [{}]",
            profile.summary.phase.as_deref().unwrap_or("-"),
            profile.summary.substate.as_deref().unwrap_or("-"),
            profile.summary.stage.as_deref().unwrap_or("-"),
            profile.summary.audiences.join(", "),
        )];
        for transition in store.transitions(self.workspace, profile.id).await.unwrap() {
            lines.push(format!(
                "{} {}: {} -> {} ({})",
                transition.at,
                transition.dimension,
                transition.from.as_deref().unwrap_or("-"),
                transition.to,
                transition.reason
            ));
        }
        expect.assert_eq(&(lines.join("\n") + "\n"));
    }
}
