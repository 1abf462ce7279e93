use super::*;

fn candidate(profile_id: i64, user_id: Option<&str>, matched_by: MatchedBy) -> Candidate {
    Candidate {
        profile_id,
        user_id: user_id.map(str::to_owned),
        matched_by,
    }
}

fn ids<'a>(anonymous_id: Option<&'a str>, user_id: Option<&'a str>) -> Identities<'a> {
    Identities {
        anonymous_id,
        user_id,
        ..Identities::default()
    }
}

#[test]
fn unknown_identities_make_a_new_profile() {
    let resolution = resolve(ids(Some("a1"), None), &[]);
    assert_eq!(resolution.target, Target::New);
    assert!(resolution.absorbed.is_empty() && resolution.conflicting.is_empty());
}

#[test]
fn identify_merges_the_anonymous_history_into_the_known_user() {
    let candidates = [
        candidate(1, None, MatchedBy::AnonymousId),
        candidate(2, Some("u1"), MatchedBy::UserId),
    ];
    let resolution = resolve(ids(Some("a1"), Some("u1")), &candidates);
    assert_eq!(resolution.target, Target::Existing(2));
    assert_eq!(resolution.absorbed, vec![1]);
}

#[test]
fn a_shared_device_does_not_merge_two_known_users() {
    // The anonymous id belongs to u1's profile; now u2 logs in on the same browser.
    let candidates = [candidate(1, Some("u1"), MatchedBy::AnonymousId)];
    let resolution = resolve(ids(Some("a1"), Some("u2")), &candidates);
    assert_eq!(resolution.target, Target::New);
    assert_eq!(resolution.conflicting, vec![1]);
    assert_eq!(
        resolution.reason.as_deref(),
        Some("the anonymous id is held by user \"u1\", not \"u2\"; not merged")
    );

    // u2 already has a profile: the event goes there, u1's stays apart.
    let candidates = [
        candidate(1, Some("u1"), MatchedBy::AnonymousId),
        candidate(3, Some("u2"), MatchedBy::UserId),
    ];
    let resolution = resolve(ids(Some("a1"), Some("u2")), &candidates);
    assert_eq!(resolution.target, Target::Existing(3));
    assert!(resolution.absorbed.is_empty());
    assert_eq!(resolution.conflicting, vec![1]);
}

#[test]
fn an_explicit_alias_merges() {
    let candidates = [
        candidate(5, Some("new"), MatchedBy::UserId),
        candidate(4, Some("old"), MatchedBy::PreviousId),
    ];
    let identities = Identities {
        user_id: Some("new"),
        previous_id: Some("old"),
        ..Identities::default()
    };
    let resolution = resolve(identities, &candidates);
    assert_eq!(resolution.target, Target::Existing(5));
    assert_eq!(resolution.absorbed, vec![4]);
}

#[test]
fn the_same_profile_matched_twice_is_one_candidate() {
    let candidates = [
        candidate(7, Some("u"), MatchedBy::AnonymousId),
        candidate(7, Some("u"), MatchedBy::UserId),
    ];
    let resolution = resolve(ids(Some("a"), Some("u")), &candidates);
    assert_eq!(
        resolution,
        Resolution {
            target: Target::Existing(7),
            absorbed: vec![],
            conflicting: vec![],
            reason: None
        }
    );
}
