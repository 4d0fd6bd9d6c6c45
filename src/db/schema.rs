//! Table definitions, written by hand to match `migrations/sqlite` and
//! `migrations/postgres` (same tables, same names, portable types).

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        display_name -> Text,
        time_zone -> Text,
        session_version -> BigInt,
        disabled_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    merchants (id) {
        id -> BigInt,
        name -> Text,
        slug -> Text,
        website -> Nullable<Text>,
        default_currency -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    merchant_members (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        user_id -> BigInt,
        member_role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    influencers (id) {
        id -> BigInt,
        user_id -> BigInt,
        handle -> Text,
        display_name -> Text,
        bio -> Text,
        country -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    password_resets (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_attempts (id) {
        id -> BigInt,
        email -> Text,
        ip -> Text,
        succeeded -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox_emails (id) {
        id -> BigInt,
        kind -> Text,
        to_address -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        actor_user_id -> Nullable<BigInt>,
        action -> Text,
        subject_type -> Text,
        subject_id -> Nullable<BigInt>,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(merchant_members -> merchants (merchant_id));
diesel::joinable!(merchant_members -> users (user_id));
diesel::joinable!(influencers -> users (user_id));
diesel::joinable!(password_resets -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    merchants,
    merchant_members,
    influencers,
    password_resets,
    login_attempts,
    outbox_emails,
    audit_events,
);
