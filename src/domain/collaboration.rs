//! The collaboration state machine: applied -> active | declined; invited -> active |
//! declined; active -> ended (by either side). Nothing else moves.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollabState {
    Applied,
    Invited,
    Active,
    Declined,
    Ended,
}

impl CollabState {
    pub fn parse(s: &str) -> Option<CollabState> {
        Some(match s {
            "applied" => CollabState::Applied,
            "invited" => CollabState::Invited,
            "active" => CollabState::Active,
            "declined" => CollabState::Declined,
            "ended" => CollabState::Ended,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            CollabState::Applied => "applied",
            CollabState::Invited => "invited",
            CollabState::Active => "active",
            CollabState::Declined => "declined",
            CollabState::Ended => "ended",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            CollabState::Applied => "Applied",
            CollabState::Invited => "Invited",
            CollabState::Active => "Active",
            CollabState::Declined => "Declined",
            CollabState::Ended => "Ended",
        }
    }
}

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Merchant,
    Influencer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollabAction {
    /// Merchant approves an application.
    Approve,
    /// Merchant declines an application.
    Decline,
    /// Influencer accepts an invitation.
    Accept,
    /// Influencer declines an invitation.
    Reject,
    /// Either side ends an active collaboration.
    End,
}

impl CollabAction {
    pub fn parse(s: &str) -> Option<CollabAction> {
        Some(match s {
            "approve" => CollabAction::Approve,
            "decline" => CollabAction::Decline,
            "accept" => CollabAction::Accept,
            "reject" => CollabAction::Reject,
            "end" => CollabAction::End,
            _ => return None,
        })
    }

    pub fn past_tense(&self) -> &'static str {
        match self {
            CollabAction::Approve => "approved",
            CollabAction::Decline | CollabAction::Reject => "declined",
            CollabAction::Accept => "accepted",
            CollabAction::End => "ended",
        }
    }
}

/// The next state, or why the move is not allowed.
pub fn transition(
    from: CollabState,
    action: CollabAction,
    side: Side,
) -> Result<CollabState, String> {
    use CollabAction as A;
    use CollabState as S;
    match (from, action, side) {
        (S::Applied, A::Approve, Side::Merchant) => Ok(S::Active),
        (S::Applied, A::Decline, Side::Merchant) => Ok(S::Declined),
        (S::Invited, A::Accept, Side::Influencer) => Ok(S::Active),
        (S::Invited, A::Reject, Side::Influencer) => Ok(S::Declined),
        (S::Active, A::End, _) => Ok(S::Ended),
        (from, _, _) => Err(format!(
            "This collaboration is {} and cannot be {} that way.",
            from.label().to_lowercase(),
            action.past_tense()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STATES: [CollabState; 5] = [
        CollabState::Applied,
        CollabState::Invited,
        CollabState::Active,
        CollabState::Declined,
        CollabState::Ended,
    ];
    const ACTIONS: [CollabAction; 5] = [
        CollabAction::Approve,
        CollabAction::Decline,
        CollabAction::Accept,
        CollabAction::Reject,
        CollabAction::End,
    ];

    #[test]
    fn exactly_the_documented_edges() {
        let mut allowed = Vec::new();
        for s in STATES {
            for a in ACTIONS {
                for side in [Side::Merchant, Side::Influencer] {
                    if let Ok(to) = transition(s, a, side) {
                        allowed.push((s, a, side, to));
                    }
                }
            }
        }
        use CollabAction as A;
        use CollabState as S;
        assert_eq!(
            allowed,
            vec![
                (S::Applied, A::Approve, Side::Merchant, S::Active),
                (S::Applied, A::Decline, Side::Merchant, S::Declined),
                (S::Invited, A::Accept, Side::Influencer, S::Active),
                (S::Invited, A::Reject, Side::Influencer, S::Declined),
                (S::Active, A::End, Side::Merchant, S::Ended),
                (S::Active, A::End, Side::Influencer, S::Ended),
            ]
        );
    }

    proptest! {
        /// Declined and ended are final, whatever sequence of moves follows.
        #[test]
        fn final_states_stay_final(moves in prop::collection::vec((0usize..5, any::<bool>()), 0..20)) {
            for start in [CollabState::Declined, CollabState::Ended] {
                let mut s = start;
                for (a, merchant) in &moves {
                    let side = if *merchant { Side::Merchant } else { Side::Influencer };
                    if let Ok(next) = transition(s, ACTIONS[*a], side) { s = next; }
                }
                prop_assert_eq!(s, start);
            }
        }
    }
}
