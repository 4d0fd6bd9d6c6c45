//! Table definitions, written by hand to match `migrations/sqlite` and
//! `migrations/postgres` (same tables, same names, portable types). One table is SQLite's
//! only and not here: `click_rollup`, the mark of the background click rollup (read and
//! written with SQL in `db::links`).

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
        fee_bps -> Integer,
        shopify_webhook_secret -> Nullable<Text>,
        shopify_secret_set_by -> Nullable<BigInt>,
        shopify_secret_set_at -> Nullable<Timestamp>,
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
        languages -> Text,
        total_followers -> BigInt,
        engagement_bps -> Integer,
        payout_method -> Nullable<Text>,
        payout_currency -> Nullable<Text>,
        payout_details -> Nullable<Text>,
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
        pending -> Bool,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        user_agent -> Text,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    team_invitations (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        email -> Text,
        token_hash -> Text,
        invited_by -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        user_id -> Nullable<BigInt>,
        revoked_at -> Nullable<Timestamp>,
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

diesel::table! {
    influencer_categories (id) {
        id -> BigInt,
        influencer_id -> BigInt,
        category -> Text,
    }
}

diesel::table! {
    influencer_regions (id) {
        id -> BigInt,
        influencer_id -> BigInt,
        region -> Text,
    }
}

diesel::table! {
    social_accounts (id) {
        id -> BigInt,
        influencer_id -> BigInt,
        platform -> Text,
        handle -> Text,
        followers -> BigInt,
        avg_views -> BigInt,
        engagement_bps -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    shop_domains (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        domain -> Text,
        verified_at -> Nullable<Timestamp>,
        verified_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    products (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        sku -> Text,
        title -> Text,
        category -> Text,
        price_minor -> BigInt,
        currency -> Text,
        product_url -> Text,
        image_url -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    campaigns (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        name -> Text,
        description -> Text,
        category -> Text,
        product_scope -> Text,
        currency -> Text,
        attribution_days -> Integer,
        hold_days -> Integer,
        visibility -> Text,
        starts_at -> Timestamp,
        ends_at -> Nullable<Timestamp>,
        min_followers -> Nullable<BigInt>,
        target_regions -> Text,
        budget_cap_minor -> Nullable<BigInt>,
        state -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    campaign_events (id) {
        id -> BigInt,
        campaign_id -> BigInt,
        from_state -> Nullable<Text>,
        to_state -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    order_ids (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        conversion_id -> BigInt,
        alias -> Text,
    }
}

diesel::table! {
    campaign_products (id) {
        id -> BigInt,
        campaign_id -> BigInt,
        product_id -> BigInt,
    }
}

diesel::table! {
    campaign_rule_versions (id) {
        id -> BigInt,
        campaign_id -> BigInt,
        version -> Integer,
        effective_at -> Timestamp,
        default_rate_bps -> Integer,
        flat_per_order_minor -> BigInt,
        flat_per_item_minor -> BigInt,
        created_by -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    campaign_rule_overrides (id) {
        id -> BigInt,
        rule_version_id -> BigInt,
        kind -> Text,
        match_key -> Text,
        rate_bps -> Integer,
    }
}

diesel::table! {
    collaborations (id) {
        id -> BigInt,
        campaign_id -> BigInt,
        influencer_id -> BigInt,
        merchant_id -> BigInt,
        state -> Text,
        custom_rate_bps -> Nullable<Integer>,
        coupon_code -> Nullable<Text>,
        message -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    collaboration_events (id) {
        id -> BigInt,
        collaboration_id -> BigInt,
        from_state -> Nullable<Text>,
        to_state -> Text,
        actor_user_id -> BigInt,
        note -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    streams (id) {
        id -> BigInt,
        influencer_id -> BigInt,
        title -> Text,
        platform -> Text,
        scheduled_at -> Nullable<Timestamp>,
        published_url -> Nullable<Text>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    links (id) {
        id -> BigInt,
        code -> Text,
        collaboration_id -> BigInt,
        influencer_id -> BigInt,
        merchant_id -> BigInt,
        campaign_id -> BigInt,
        product_id -> Nullable<BigInt>,
        stream_id -> Nullable<BigInt>,
        destination -> Text,
        label -> Text,
        disabled_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    clicks (id) {
        id -> BigInt,
        click_id -> Text,
        link_id -> BigInt,
        stream_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        ip_hash -> Text,
        ua_hash -> Text,
        referrer_host -> Nullable<Text>,
        is_bot -> Bool,
        is_repeat -> Bool,
        visitor_key -> BigInt,
    }
}

diesel::table! {
    link_daily (id) {
        id -> BigInt,
        link_id -> BigInt,
        day -> Text,
        clicks -> BigInt,
        unique_clicks -> BigInt,
        bot_clicks -> BigInt,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        influencer_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        prefix -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(links -> streams (stream_id));
diesel::joinable!(clicks -> links (link_id));
diesel::joinable!(link_daily -> links (link_id));
diesel::joinable!(influencer_categories -> influencers (influencer_id));
diesel::joinable!(influencer_regions -> influencers (influencer_id));
diesel::joinable!(social_accounts -> influencers (influencer_id));
diesel::joinable!(shop_domains -> merchants (merchant_id));
diesel::table! {
    postback_secrets (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        secret -> Text,
        prefix -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        created_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    shopify_webhooks (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        webhook_id -> Text,
        topic -> Text,
        received_at -> Timestamp,
        outcome -> Text,
        detail -> Text,
        subject -> Text,
    }
}

diesel::table! {
    conversions (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        order_id -> Text,
        source -> Text,
        request_hash -> Text,
        currency -> Text,
        occurred_at -> Timestamp,
        click_id -> Nullable<Text>,
        coupon_code -> Nullable<Text>,
        customer_email_hash -> Nullable<Text>,
        base_minor -> BigInt,
        signal -> Text,
        attribution_note -> Text,
        collaboration_id -> Nullable<BigInt>,
        campaign_id -> Nullable<BigInt>,
        influencer_id -> Nullable<BigInt>,
        link_id -> Nullable<BigInt>,
        stream_id -> Nullable<BigInt>,
        click_ref -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    conversion_lines (id) {
        id -> BigInt,
        conversion_id -> BigInt,
        line_no -> Integer,
        sku -> Text,
        product_id -> Nullable<BigInt>,
        category -> Nullable<Text>,
        quantity -> BigInt,
        unit_price_minor -> BigInt,
        discount_minor -> BigInt,
        base_minor -> BigInt,
        rate_bps -> Integer,
        rate_source -> Text,
        flat_minor -> BigInt,
        commission_minor -> BigInt,
    }
}

diesel::table! {
    commissions (id) {
        id -> BigInt,
        conversion_id -> BigInt,
        merchant_id -> BigInt,
        influencer_id -> BigInt,
        campaign_id -> BigInt,
        collaboration_id -> BigInt,
        currency -> Text,
        amount_minor -> BigInt,
        fee_bps -> Integer,
        fee_minor -> BigInt,
        rule_version_id -> BigInt,
        state -> Text,
        available_at -> Timestamp,
        frozen_reason -> Nullable<Text>,
        explanation -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    commission_events (id) {
        id -> BigInt,
        commission_id -> BigInt,
        from_state -> Nullable<Text>,
        to_state -> Text,
        actor_user_id -> Nullable<BigInt>,
        note -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    refunds (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        refund_id -> Text,
        conversion_id -> BigInt,
        source -> Text,
        request_hash -> Text,
        amount_minor -> BigInt,
        occurred_at -> Timestamp,
        commission_minor -> BigInt,
        fee_minor -> BigInt,
        effect -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    refund_lines (id) {
        id -> BigInt,
        refund_ref -> BigInt,
        line_no -> Integer,
        amount_minor -> BigInt,
        commission_minor -> BigInt,
    }
}

diesel::table! {
    ledger_accounts (id) {
        id -> BigInt,
        owner_kind -> Text,
        owner_id -> BigInt,
        kind -> Text,
        currency -> Text,
    }
}

diesel::table! {
    journals (id) {
        id -> BigInt,
        kind -> Text,
        ref_kind -> Text,
        ref_id -> BigInt,
        currency -> Text,
        memo -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    entries (id) {
        id -> BigInt,
        journal_id -> BigInt,
        account_id -> BigInt,
        amount_minor -> BigInt,
    }
}

diesel::joinable!(products -> merchants (merchant_id));
diesel::joinable!(campaigns -> merchants (merchant_id));
diesel::joinable!(campaign_events -> campaigns (campaign_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(team_invitations -> merchants (merchant_id));
diesel::joinable!(order_ids -> conversions (conversion_id));
diesel::joinable!(campaign_products -> campaigns (campaign_id));
diesel::joinable!(campaign_products -> products (product_id));
diesel::joinable!(campaign_rule_versions -> campaigns (campaign_id));
diesel::joinable!(campaign_rule_overrides -> campaign_rule_versions (rule_version_id));
diesel::joinable!(collaborations -> campaigns (campaign_id));
diesel::joinable!(collaborations -> influencers (influencer_id));
diesel::joinable!(collaboration_events -> collaborations (collaboration_id));
diesel::joinable!(merchant_members -> merchants (merchant_id));
diesel::joinable!(merchant_members -> users (user_id));
diesel::joinable!(influencers -> users (user_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::joinable!(conversion_lines -> conversions (conversion_id));
diesel::joinable!(commissions -> conversions (conversion_id));
diesel::joinable!(commission_events -> commissions (commission_id));
diesel::joinable!(refunds -> conversions (conversion_id));
diesel::joinable!(refund_lines -> refunds (refund_ref));
diesel::joinable!(entries -> journals (journal_id));
diesel::joinable!(entries -> ledger_accounts (account_id));

diesel::table! {
    payout_schedules (id) {
        id -> BigInt,
        name -> Text,
        cron -> Text,
        time_zone -> Text,
        currency -> Text,
        minimum_minor -> BigInt,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_fire_at -> Nullable<Timestamp>,
        updated_by -> Nullable<BigInt>,
        pay_when_paid -> Bool,
    }
}

diesel::table! {
    payout_runs (id) {
        id -> BigInt,
        schedule_id -> BigInt,
        fire_at -> Timestamp,
        currency -> Text,
        minimum_minor -> BigInt,
        state -> Text,
        started_by -> Nullable<BigInt>,
        approved_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        schedule_changed_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    payouts (id) {
        id -> BigInt,
        run_id -> BigInt,
        influencer_id -> BigInt,
        currency -> Text,
        amount_minor -> BigInt,
        state -> Text,
        method -> Text,
        reference -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        destination -> Nullable<Text>,
        returned_reason -> Nullable<Text>,
        returned_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    payout_items (id) {
        id -> BigInt,
        payout_id -> BigInt,
        commission_id -> Nullable<BigInt>,
        refund_id -> Nullable<BigInt>,
        amount_minor -> BigInt,
        active -> Bool,
    }
}

diesel::table! {
    payout_exclusions (id) {
        id -> BigInt,
        run_id -> BigInt,
        influencer_id -> BigInt,
        currency -> Text,
        available_minor -> BigInt,
        reason -> Text,
    }
}

diesel::joinable!(payout_runs -> payout_schedules (schedule_id));
diesel::joinable!(payouts -> payout_runs (run_id));
diesel::joinable!(payouts -> influencers (influencer_id));
diesel::joinable!(payout_items -> payouts (payout_id));
diesel::joinable!(payout_exclusions -> payout_runs (run_id));
diesel::joinable!(payout_exclusions -> influencers (influencer_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    merchants,
    merchant_members,
    influencers,
    password_resets,
    login_attempts,
    sessions,
    team_invitations,
    payout_schedules,
    payout_runs,
    payouts,
    payout_items,
    payout_exclusions,
    outbox_emails,
    audit_events,
    influencer_categories,
    influencer_regions,
    social_accounts,
    shop_domains,
    products,
    campaigns,
    campaign_events,
    order_ids,
    campaign_products,
    campaign_rule_versions,
    campaign_rule_overrides,
    collaborations,
    collaboration_events,
    streams,
    links,
    clicks,
    link_daily,
    api_tokens,
    postback_secrets,
    shopify_webhooks,
    conversions,
    conversion_lines,
    commissions,
    commission_events,
    refunds,
    refund_lines,
    ledger_accounts,
    journals,
    entries,
    stats_quarters,
    ledger_balances,
    billing_settings,
    merchant_billing,
    invoice_series,
    invoices,
    invoice_lines,
    merchant_payments,
    payment_reversals,
    invoice_allocations,
    invoice_reminders,
    statement_imports,
    statement_rows,
);

diesel::table! {
    stats_quarters (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        campaign_id -> BigInt,
        influencer_id -> BigInt,
        link_id -> BigInt,
        stream_id -> BigInt,
        currency -> Text,
        bucket -> BigInt,
        clicks -> BigInt,
        unique_clicks -> BigInt,
        bot_clicks -> BigInt,
        orders -> BigInt,
        gmv_minor -> BigInt,
        commission_minor -> BigInt,
        fee_minor -> BigInt,
        refunds -> BigInt,
        refund_minor -> BigInt,
        refund_commission_minor -> BigInt,
        refund_fee_minor -> BigInt,
        rejected_commission_minor -> BigInt,
        rejected_fee_minor -> BigInt,
        coupon_orders -> BigInt,
        coupon_commission_minor -> BigInt,
    }
}

diesel::table! {
    stream_minutes (id) {
        id -> BigInt,
        stream_id -> BigInt,
        merchant_id -> BigInt,
        campaign_id -> BigInt,
        influencer_id -> BigInt,
        link_id -> BigInt,
        currency -> Text,
        bucket -> BigInt,
        clicks -> BigInt,
        unique_clicks -> BigInt,
        bot_clicks -> BigInt,
        orders -> BigInt,
        gmv_minor -> BigInt,
        commission_minor -> BigInt,
        fee_minor -> BigInt,
        refunds -> BigInt,
        refund_minor -> BigInt,
        refund_commission_minor -> BigInt,
        refund_fee_minor -> BigInt,
        rejected_commission_minor -> BigInt,
        rejected_fee_minor -> BigInt,
        coupon_orders -> BigInt,
        coupon_commission_minor -> BigInt,
    }
}

diesel::table! {
    ledger_balances (account_id) {
        account_id -> BigInt,
        balance_minor -> BigInt,
    }
}

diesel::joinable!(ledger_balances -> ledger_accounts (account_id));

diesel::table! {
    billing_settings (id) {
        id -> BigInt,
        payee -> Text,
        payment_instructions -> Text,
        tax_rate_bps -> Integer,
        tax_label -> Text,
        updated_by -> Nullable<BigInt>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    merchant_billing (merchant_id) {
        merchant_id -> BigInt,
        terms_days -> Integer,
        updated_by -> Nullable<BigInt>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    invoice_series (prefix, year) {
        prefix -> Text,
        year -> Integer,
        last_seq -> BigInt,
    }
}

diesel::table! {
    invoices (id) {
        id -> BigInt,
        number -> Text,
        prefix -> Text,
        year -> Integer,
        seq -> BigInt,
        kind -> Text,
        source -> Text,
        merchant_id -> BigInt,
        currency -> Text,
        period_label -> Text,
        period_start -> Timestamp,
        period_end -> Timestamp,
        time_zone -> Text,
        issued_at -> Timestamp,
        due_on -> Text,
        terms_days -> Integer,
        subtotal_minor -> BigInt,
        tax_rate_bps -> Integer,
        tax_label -> Text,
        tax_minor -> BigInt,
        total_minor -> BigInt,
        corrects_id -> Nullable<BigInt>,
        reason -> Text,
        bill_to -> Text,
        payee -> Text,
        payment_instructions -> Text,
        issued_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    invoice_lines (id) {
        id -> BigInt,
        invoice_id -> BigInt,
        line_no -> Integer,
        kind -> Text,
        campaign_id -> Nullable<BigInt>,
        influencer_id -> Nullable<BigInt>,
        description -> Text,
        count -> BigInt,
        amount_minor -> BigInt,
    }
}

diesel::table! {
    merchant_payments (id) {
        id -> BigInt,
        merchant_id -> BigInt,
        currency -> Text,
        amount_minor -> BigInt,
        value_date -> Text,
        bank_reference -> Text,
        payer -> Text,
        invoice_id -> Nullable<BigInt>,
        statement_row_id -> Nullable<BigInt>,
        recorded_by -> Nullable<BigInt>,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    payment_reversals (id) {
        id -> BigInt,
        payment_id -> BigInt,
        reason -> Text,
        reversed_by -> Nullable<BigInt>,
        reversed_at -> Timestamp,
    }
}

diesel::table! {
    invoice_allocations (id) {
        id -> BigInt,
        invoice_id -> BigInt,
        payment_id -> Nullable<BigInt>,
        credit_note_id -> Nullable<BigInt>,
        amount_minor -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invoice_reminders (id) {
        id -> BigInt,
        invoice_id -> BigInt,
        kind -> Text,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    statement_imports (id) {
        id -> BigInt,
        file_sha256 -> Text,
        filename -> Text,
        uploaded_by -> Nullable<BigInt>,
        uploaded_at -> Timestamp,
        applied_by -> Nullable<BigInt>,
        applied_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    statement_rows (id) {
        id -> BigInt,
        import_id -> BigInt,
        row_no -> Integer,
        value_date -> Text,
        amount_text -> Text,
        amount_minor -> Nullable<BigInt>,
        currency -> Text,
        reference -> Text,
        payer -> Text,
        problem -> Nullable<Text>,
        matched_invoice_id -> Nullable<BigInt>,
        outcome -> Nullable<Text>,
        payment_id -> Nullable<BigInt>,
    }
}

diesel::joinable!(invoice_lines -> invoices (invoice_id));
diesel::joinable!(invoices -> merchants (merchant_id));
diesel::joinable!(merchant_payments -> merchants (merchant_id));
diesel::joinable!(payment_reversals -> merchant_payments (payment_id));
diesel::joinable!(invoice_reminders -> invoices (invoice_id));
diesel::joinable!(statement_rows -> statement_imports (import_id));
diesel::joinable!(merchant_billing -> merchants (merchant_id));

// An invoice groups a period's journals by kind, campaign and creator.
diesel::allow_columns_to_appear_in_same_group_by_clause!(
    entries::account_id,
    journals::kind,
    commissions::campaign_id,
    commissions::influencer_id,
);
