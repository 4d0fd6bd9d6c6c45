//! Roles and the rules for what people type into account and profile forms.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Merchant,
    Influencer,
    Finance,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Merchant, Role::Influencer, Role::Finance, Role::Admin];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Merchant => "merchant",
            Role::Influencer => "influencer",
            Role::Finance => "finance",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(&self) -> &'static str {
        match self {
            Role::Merchant => "Merchant",
            Role::Influencer => "Influencer",
            Role::Finance => "Finance",
            Role::Admin => "Admin",
        }
    }

    /// Where the role lands after logging in.
    /// Where a new account lands after signing up or joining: the page that sets it up
    /// (the influencer's profile, the organisation); later sign-ins go [`Role::home`].
    pub fn setup_page(&self) -> &'static str {
        match self {
            Role::Merchant => "/merchant",
            Role::Influencer => "/influencer",
            Role::Finance => "/finance/dashboard",
            Role::Admin => "/admin",
        }
    }

    pub fn home(&self) -> &'static str {
        match self {
            Role::Merchant => "/merchant/dashboard",
            Role::Influencer => "/influencer/dashboard",
            Role::Finance => "/finance/dashboard",
            Role::Admin => "/admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRole {
    Owner,
    Member,
}

impl MemberRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            MemberRole::Owner => "owner",
            MemberRole::Member => "member",
        }
    }
    pub fn parse(s: &str) -> MemberRole {
        if s == "owner" {
            MemberRole::Owner
        } else {
            MemberRole::Member
        }
    }
}
