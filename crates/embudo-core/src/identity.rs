//! Identity resolution: which profile an event belongs to, and when profiles merge.
//!
//! The store finds the profiles that already hold one of the event's identities; this module
//! decides, purely, what to do with them. Two different known users are never merged silently:
//! such a case lists the other user's profiles as `conflicting`, and the caller records it.

/// The identities an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Identities<'a> {
    pub anonymous_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub email: Option<&'a str>,
    /// The `previousId` of an alias call: an anonymous id or a former user id.
    pub previous_id: Option<&'a str>,
}

/// A profile that holds one of the event's identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub profile_id: i64,
    /// The profile's known user id, if any.
    pub user_id: Option<String>,
    pub matched_by: MatchedBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchedBy {
    /// Strongest first: the order decides which profile survives a merge.
    UserId,
    Email,
    AnonymousId,
    PreviousId,
}

/// Where an event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An existing profile.
    Existing(i64),
    /// A new profile, made for this event's identities.
    New,
}

/// What to do with an event, given the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub target: Target,
    /// Profiles that are the same person as the target: fold them into it.
    pub absorbed: Vec<i64>,
    /// Profiles that share an identity with the event but belong to a different known user:
    /// not merged, recorded as a conflict (with `reason`).
    pub conflicting: Vec<i64>,
    pub reason: Option<String>,
}

/// Decides. `candidates` may hold the same profile several times (matched by several ids).
///
/// The anchor is the event's user id, else the user id of the strongest match that has one.
/// Profiles with no user id, or with the anchor's, are the same person: the strongest becomes the
/// target and the others are absorbed. Profiles of another known user are never merged, except
/// through an explicit `alias` call (which says that the two ids are one person).
pub fn resolve(identities: Identities<'_>, candidates: &[Candidate]) -> Resolution {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by_key(|candidate| (candidate.matched_by, candidate.profile_id));
    let mut profiles: Vec<&Candidate> = Vec::new();
    for candidate in sorted {
        if !profiles
            .iter()
            .any(|seen| seen.profile_id == candidate.profile_id)
        {
            profiles.push(candidate);
        }
    }
    let explicit_alias = identities.previous_id.is_some();
    let anchor = identities
        .user_id
        .or_else(|| profiles.iter().find_map(|p| p.user_id.as_deref()));
    let (compatible, conflicting): (Vec<&Candidate>, Vec<&Candidate>) =
        profiles.iter().partition(|profile| {
            explicit_alias || profile.user_id.is_none() || profile.user_id.as_deref() == anchor
        });
    let reason = conflicting.first().map(|other| {
        format!(
            "{} is held by user {:?}, not {:?}; not merged",
            matched_label(other.matched_by),
            other.user_id.as_deref().unwrap_or_default(),
            anchor.unwrap_or_default()
        )
    });
    Resolution {
        target: compatible
            .first()
            .map_or(Target::New, |profile| Target::Existing(profile.profile_id)),
        absorbed: compatible
            .iter()
            .skip(1)
            .map(|profile| profile.profile_id)
            .collect(),
        conflicting: conflicting
            .iter()
            .map(|profile| profile.profile_id)
            .collect(),
        reason,
    }
}

fn matched_label(matched_by: MatchedBy) -> &'static str {
    match matched_by {
        MatchedBy::UserId => "the user id",
        MatchedBy::Email => "the e-mail",
        MatchedBy::AnonymousId => "the anonymous id",
        MatchedBy::PreviousId => "the previous id",
    }
}

#[cfg(test)]
mod tests;
