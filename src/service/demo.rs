//! Demo data for `tandem serve --demo` and `tandem demo`: deterministic, believable, and
//! loaded only into an empty database.

use chrono::{NaiveDateTime, TimeDelta};

use crate::db::models::{
    NewInfluencer, NewMerchant, NewMerchantMember, NewShopDomain, NewUser, User,
};
use crate::db::{self, DbConn};
use crate::domain::account::Role;
use crate::domain::collaboration::{CollabAction, Side};
use crate::domain::product_csv::ProductRaw;
use crate::error::{AppError, AppResult};

use super::campaigns::{CampaignForm, RulesFormFields};
use super::influencer::{ProfileForm, SocialAccountForm};

/// The password of every demo account (printed at start).
pub const DEMO_PASSWORD: &str = "tandem-demo";

/// One demo account, as printed: `demo <role> <email> <password>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    pub role: Role,
    pub email: &'static str,
    pub password: &'static str,
}

impl std::fmt::Display for DemoAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "demo {} {} {}", self.role, self.email, self.password)
    }
}

pub const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        role: Role::Merchant,
        email: "merchant@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
    DemoAccount {
        role: Role::Influencer,
        email: "influencer@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
    DemoAccount {
        role: Role::Finance,
        email: "finance@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
    // The second pair of eyes: a run is approved by someone other than who made it or last
    // changed its schedule (maker-checker).
    DemoAccount {
        role: Role::Finance,
        email: "checker@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
    DemoAccount {
        role: Role::Admin,
        email: "admin@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
    DemoAccount {
        role: Role::Merchant,
        email: "beauty@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
    DemoAccount {
        role: Role::Merchant,
        email: "electronics@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
];

#[derive(Debug, PartialEq, Eq)]
pub enum DemoLoad {
    /// Loaded now, into an empty database.
    Loaded,
    /// The demo accounts were already there.
    AlreadyLoaded,
    /// The database holds other data: nothing was touched.
    NotEmpty,
}

/// A small deterministic generator (splitmix64), so the demo is the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn demo_error(context: &str, e: AppError) -> AppError {
    match e {
        AppError::Validation(errors) => AppError::Internal(anyhow::anyhow!(
            "demo data is invalid ({context}): {}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        other => other,
    }
}

fn user(
    conn: &mut DbConn,
    now: NaiveDateTime,
    hash: &str,
    role: Role,
    email: &str,
    name: &str,
    tz: &str,
) -> AppResult<User> {
    Ok(db::users::insert(
        conn,
        &NewUser {
            email,
            password_hash: hash,
            role: role.as_str(),
            display_name: name,
            time_zone: tz,
            session_version: 1,
            created_at: now,
            updated_at: now,
        },
    )?)
}

fn welcome(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    u: &User,
    role: Role,
) -> AppResult<()> {
    let email = crate::email::templates::welcome(
        &u.display_name,
        role.label(),
        &format!("{base_url}{}", role.home()),
    )?;
    super::enqueue_email(conn, now, &u.email, &email)?;
    Ok(())
}

struct DemoMerchant {
    email: &'static str,
    person: &'static str,
    org: &'static str,
    slug: &'static str,
    currency: &'static str,
    domain: &'static str,
    website: &'static str,
    category: &'static str,
    products: &'static [(&'static str, &'static str, &'static str)],
}

const MERCHANTS: &[DemoMerchant] = &[
    DemoMerchant {
        email: "merchant@demo.tandem.test",
        person: "Lin Wei",
        org: "Jade Leaf Tea Co.",
        slug: "jade-leaf-tea-co",
        currency: "CNY",
        domain: "jadeleaf.example",
        website: "https://jadeleaf.example",
        category: "tea",
        products: &[
            ("TEA-001", "West Lake Dragon Well, 100 g", "128.00"),
            ("TEA-002", "Anxi Tieguanyin oolong, 125 g", "98.00"),
            ("TEA-003", "Yunnan aged pu-erh cake, 357 g", "268.00"),
            ("TEA-004", "Fujian white peony, 80 g", "76.00"),
            ("TEA-005", "Jasmine dragon pearls, 100 g", "88.00"),
            ("TEA-006", "Wuyi Da Hong Pao, 100 g", "198.00"),
            ("TEA-007", "Keemun black tea, 150 g", "68.00"),
            ("TEA-008", "Silver needle, 50 g", "158.00"),
            ("TEA-009", "Tea sampler, 12 kinds", "139.00"),
            ("TEA-010", "Gaiwan set, celadon", "188.00"),
            ("TEA-011", "Bamboo tea tray", "239.00"),
            ("TEA-012", "Glass travel infuser", "59.90"),
            ("TEA-013", "Matcha, ceremonial grade, 30 g", "118.00"),
            ("TEA-014", "Chrysanthemum buds, 50 g", "29.90"),
            ("TEA-015", "Lunar new year gift box", "388.00"),
        ],
    },
    DemoMerchant {
        email: "beauty@demo.tandem.test",
        person: "Chloé Martin",
        org: "Lumière Beauty",
        slug: "lumiere-beauty",
        currency: "CNY",
        domain: "lumiere-beauty.example",
        website: "https://lumiere-beauty.example",
        category: "beauty",
        products: &[
            ("LB-SER-01", "Vitamin C glow serum, 30 ml", "239.00"),
            ("LB-SER-02", "Hyaluronic night serum, 30 ml", "259.00"),
            ("LB-CRM-01", "Barrier repair cream, 50 ml", "199.00"),
            ("LB-CRM-02", "Rich peptide cream, 50 ml", "329.00"),
            ("LB-CLN-01", "Gentle foam cleanser, 150 ml", "99.00"),
            ("LB-CLN-02", "Cleansing balm, 100 ml", "139.00"),
            ("LB-SUN-01", "Daily sunscreen SPF 50, 50 ml", "159.00"),
            ("LB-SUN-02", "Tinted sunscreen SPF 30, 40 ml", "169.00"),
            ("LB-MSK-01", "Sheet masks, 10 pack", "89.00"),
            ("LB-MSK-02", "Clay mask, 75 ml", "119.00"),
            ("LB-LIP-01", "Lip oil, rose", "79.00"),
            ("LB-LIP-02", "Velvet lipstick, brick red", "139.00"),
            ("LB-EYE-01", "Eye cream, caffeine", "189.00"),
            ("LB-TON-01", "Balancing toner, 200 ml", "129.00"),
            ("LB-SET-01", "Travel skincare set", "299.00"),
        ],
    },
    DemoMerchant {
        email: "electronics@demo.tandem.test",
        person: "Sam Carter",
        org: "Voltix Electronics",
        slug: "voltix-electronics",
        currency: "USD",
        domain: "voltix.example",
        website: "https://voltix.example",
        category: "electronics",
        products: &[
            ("VX-MIC-01", "Clip-on wireless microphone pair", "89.00"),
            ("VX-MIC-02", "USB condenser microphone", "129.00"),
            ("VX-LGT-01", "18-inch ring light with stand", "59.99"),
            ("VX-LGT-02", "RGB panel light", "79.00"),
            ("VX-CAM-01", "4K streaming webcam", "149.00"),
            ("VX-CAP-01", "HDMI capture card", "119.00"),
            ("VX-HP-01", "Noise-cancelling headphones", "199.00"),
            ("VX-HP-02", "Wireless earbuds", "79.00"),
            ("VX-GIM-01", "Phone gimbal, 3-axis", "99.00"),
            ("VX-TRI-01", "Travel tripod", "39.90"),
            ("VX-PWR-01", "20,000 mAh power bank", "49.00"),
            ("VX-CHG-01", "65 W GaN charger", "45.00"),
            ("VX-SSD-01", "1 TB portable SSD", "109.00"),
            ("VX-KEY-01", "Stream deck, 15 keys", "149.00"),
            ("VX-CBL-01", "Braided USB-C cable, 2 m", "14.99"),
        ],
    },
];

const FIRST: &[&str] = &[
    "Mei", "Jun", "Xiao", "Hana", "Yuki", "Min", "Siti", "Ayu", "Linh", "Mai", "Nina", "Ava",
    "Leo", "Kai", "Zoe", "Ivy", "Max", "Ella", "Noah", "Luca", "Aria", "Ren", "Bao", "Tao", "Ming",
    "Rina", "Dara", "Putri", "Joy", "Sora",
];
const TOPICS: &[(&str, &str)] = &[
    ("beauty", "skincare"),
    ("beauty", "glow"),
    ("fashion", "style"),
    ("tea", "teatime"),
    ("food", "eats"),
    ("electronics", "tech"),
    ("gaming", "plays"),
    ("home", "home"),
    ("fitness", "fit"),
    ("travel", "travels"),
    ("kids", "mom"),
    ("pets", "pets"),
];
const REGION_SETS: &[&[&str]] = &[
    &["CN"],
    &["CN", "HK"],
    &["CN", "TW"],
    &["US"],
    &["US", "CA"],
    &["JP"],
    &["KR"],
    &["ID", "MY"],
    &["TH"],
    &["VN"],
    &["SG", "MY"],
    &["GB", "FR"],
];
const PLATFORM_FOR: &[(&str, &[&str])] = &[
    ("CN", &["douyin", "kuaishou"]),
    ("HK", &["instagram", "youtube"]),
    ("TW", &["instagram", "youtube"]),
];

/// Loads the demo data into an empty database: the printed accounts, three merchants with
/// 45 products and 7 campaigns, 61 influencers, and collaborations in every state.
pub fn load(conn: &mut DbConn, now: NaiveDateTime, base_url: &str) -> AppResult<DemoLoad> {
    load_with(conn, now, base_url, true)
}

/// The demo as it was before merchant billing: no invoice, no payment received (for tests
/// of migrations that upgrade such a database).
pub fn load_before_billing(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
) -> AppResult<DemoLoad> {
    load_with(conn, now, base_url, false)
}

fn load_with(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    with_billing: bool,
) -> AppResult<DemoLoad> {
    if db::users::count(conn)? > 0 {
        return Ok(
            if db::users::find_by_email(conn, ACCOUNTS[0].email)?.is_some() {
                DemoLoad::AlreadyLoaded
            } else {
                DemoLoad::NotEmpty
            },
        );
    }
    let hash = crate::domain::password::hash(DEMO_PASSWORD)?;
    let start = now - TimeDelta::days(45);

    let admin = user(
        conn,
        start,
        &hash,
        Role::Admin,
        "admin@demo.tandem.test",
        "Ada Admin",
        "UTC",
    )?;
    let finance = user(
        conn,
        start,
        &hash,
        Role::Finance,
        "finance@demo.tandem.test",
        "Farah Finance",
        "Asia/Shanghai",
    )?;
    let checker = user(
        conn,
        start,
        &hash,
        Role::Finance,
        "checker@demo.tandem.test",
        "Chen Checker",
        "Asia/Shanghai",
    )?;
    welcome(conn, now, base_url, &admin, Role::Admin)?;
    welcome(conn, now, base_url, &finance, Role::Finance)?;
    welcome(conn, now, base_url, &checker, Role::Finance)?;

    // Merchants, their verified domains and their catalogs.
    let mut owners = Vec::new();
    for m in MERCHANTS {
        let tz = if m.currency == "USD" {
            "America/Los_Angeles"
        } else {
            "Asia/Shanghai"
        };
        let owner = user(conn, start, &hash, Role::Merchant, m.email, m.person, tz)?;
        let merchant = db::merchants::insert(
            conn,
            &NewMerchant {
                name: m.org,
                slug: m.slug,
                website: Some(m.website),
                default_currency: m.currency,
                created_at: start,
                updated_at: start,
            },
        )?;
        if m.org == "Lumière Beauty" {
            // The platform takes 10 % of Lumière's commissions as its fee.
            db::merchants::set_fee_bps(conn, merchant.id, 1000)?;
        }
        db::merchants::add_member(
            conn,
            &NewMerchantMember {
                merchant_id: merchant.id,
                user_id: owner.id,
                member_role: "owner",
                created_at: start,
            },
        )?;
        db::catalog::add_domain(
            conn,
            &NewShopDomain {
                merchant_id: merchant.id,
                domain: m.domain,
                created_at: start,
            },
        )?;
        let domain_id = db::catalog::domains_of(conn, merchant.id)?
            .first()
            .map(|d| d.id)
            .ok_or(AppError::NotFound)?;
        db::catalog::set_verified(
            conn,
            domain_id,
            Some(admin.id),
            Some(start + TimeDelta::hours(2)),
        )?;
        welcome(conn, now, base_url, &owner, Role::Merchant)?;
        for (i, (sku, title, price)) in m.products.iter().enumerate() {
            let category = if m.category == "tea" && i >= 9 && i != 12 && i != 13 {
                "home"
            } else {
                m.category
            };
            let raw = ProductRaw {
                sku: (*sku).into(),
                title: (*title).into(),
                category: category.into(),
                price: (*price).into(),
                currency: m.currency.into(),
                product_url: format!("https://{}/products/{}", m.domain, sku.to_lowercase()),
                image_url: String::new(),
                active: if i == 14 && m.category == "electronics" {
                    "false".into()
                } else {
                    "true".into()
                },
            };
            super::catalog::save_product(conn, start, owner.id, None, &raw)
                .map_err(|e| demo_error(sku, e))?;
        }
        owners.push(owner);
    }

    // Campaigns: (merchant, name, description, category, scope, default %, sku rates, category rates, flat per order, visibility, min followers, regions, state, products).
    let ids_of = |conn: &mut DbConn, owner: &User, skus: &[&str]| -> AppResult<Vec<String>> {
        let (m, _) = super::merchant::org_of(conn, owner.id)?;
        Ok(db::catalog::all_of(conn, m.id)?
            .into_iter()
            .filter(|p| skus.contains(&p.sku.as_str()))
            .map(|p| p.id.to_string())
            .collect())
    };
    struct Spec {
        owner: usize,
        name: &'static str,
        description: &'static str,
        category: &'static str,
        scope: &'static str,
        skus: &'static [&'static str],
        rate: &'static str,
        sku_rates: &'static str,
        category_rates: &'static str,
        flat_per_order: &'static str,
        visibility: &'static str,
        min_followers: &'static str,
        regions: &'static [&'static str],
        actions: &'static [&'static str],
    }
    let specs = [
        Spec {
            owner: 0,
            name: "Spring green tea festival",
            description: "This year's first-flush Dragon Well and white teas. Brew on stream; viewers love the leaves unfurling.",
            category: "tea",
            scope: "category",
            skus: &[],
            rate: "12",
            sku_rates: "TEA-001 = 15\nTEA-008 = 15",
            category_rates: "",
            flat_per_order: "",
            visibility: "open",
            min_followers: "",
            regions: &["CN", "HK", "TW"],
            actions: &["activate"],
        },
        Spec {
            owner: 0,
            name: "Pu-erh collectors club",
            description: "Aged cakes for serious collectors. Invitation only, for creators with an established tea audience.",
            category: "tea",
            scope: "selected",
            skus: &["TEA-003", "TEA-006", "TEA-015"],
            rate: "10",
            sku_rates: "",
            category_rates: "",
            flat_per_order: "5.00",
            visibility: "invite",
            min_followers: "100000",
            regions: &[],
            actions: &["activate"],
        },
        Spec {
            owner: 0,
            name: "Tea ware for the new year",
            description: "Gaiwans, trays and infusers for gifting season.",
            category: "home",
            scope: "selected",
            skus: &["TEA-010", "TEA-011", "TEA-012", "TEA-015"],
            rate: "8",
            sku_rates: "",
            category_rates: "",
            flat_per_order: "",
            visibility: "open",
            min_followers: "",
            regions: &[],
            actions: &[],
        },
        Spec {
            owner: 1,
            name: "Glow serum launch",
            description: "Launch of our vitamin C serum. Show a before/after routine; we ship samples to approved creators.",
            category: "beauty",
            scope: "selected",
            skus: &[
                "LB-SER-01",
                "LB-SER-02",
                "LB-CLN-01",
                "LB-TON-01",
                "LB-SET-01",
            ],
            rate: "15",
            sku_rates: "LB-SER-01 = 20",
            category_rates: "",
            flat_per_order: "",
            visibility: "open",
            min_followers: "10000",
            regions: &["CN", "HK"],
            actions: &["activate"],
        },
        Spec {
            owner: 1,
            name: "Summer sunscreen",
            description: "SPF for every skin type.",
            category: "beauty",
            scope: "selected",
            skus: &["LB-SUN-01", "LB-SUN-02"],
            rate: "12",
            sku_rates: "",
            category_rates: "",
            flat_per_order: "",
            visibility: "open",
            min_followers: "",
            regions: &[],
            actions: &["activate", "pause"],
        },
        Spec {
            owner: 2,
            name: "Creator gear week",
            description: "Microphones, lights and webcams for streamers, reviewed by streamers.",
            category: "electronics",
            scope: "category",
            skus: &[],
            rate: "6",
            sku_rates: "VX-KEY-01 = 8",
            category_rates: "",
            flat_per_order: "2.00",
            visibility: "open",
            min_followers: "",
            regions: &[],
            actions: &["activate"],
        },
        Spec {
            owner: 2,
            name: "Holiday headphones",
            description: "Last year's holiday push.",
            category: "electronics",
            scope: "selected",
            skus: &["VX-HP-01", "VX-HP-02"],
            rate: "7",
            sku_rates: "",
            category_rates: "",
            flat_per_order: "",
            visibility: "open",
            min_followers: "",
            regions: &["US", "CA"],
            actions: &["activate"],
        },
    ];
    let mut campaign_ids = Vec::new();
    for spec in &specs {
        let owner = &owners[spec.owner];
        let form = CampaignForm {
            name: spec.name.into(),
            description: spec.description.into(),
            category: spec.category.into(),
            product_scope: spec.scope.into(),
            product_ids: ids_of(conn, owner, spec.skus)?,
            attribution_days: "30".into(),
            hold_days: "30".into(),
            visibility: spec.visibility.into(),
            starts_on: String::new(),
            ends_on: String::new(),
            min_followers: spec.min_followers.into(),
            target_regions: spec.regions.iter().map(|r| (*r).to_owned()).collect(),
            budget_cap: String::new(),
            rules: RulesFormFields {
                default_rate: spec.rate.into(),
                sku_rates: spec.sku_rates.into(),
                category_rates: spec.category_rates.into(),
                flat_per_order: spec.flat_per_order.into(),
                flat_per_item: String::new(),
            },
        };
        let id = super::campaigns::create_campaign(
            conn,
            start + TimeDelta::days(1),
            owner.id,
            chrono_tz::Tz::UTC,
            &form,
        )
        .map_err(|e| demo_error(spec.name, e))?;
        for action in spec.actions {
            let action =
                crate::domain::campaign::CampaignAction::parse(action).ok_or(AppError::NotFound)?;
            super::campaigns::change_state(conn, start + TimeDelta::days(2), owner.id, id, action)?;
        }
        campaign_ids.push(id);
    }
    // A rules change on a live campaign, to show the version history.
    super::campaigns::update_rules(
        conn,
        start + TimeDelta::days(20),
        owners[0].id,
        campaign_ids[0],
        &RulesFormFields {
            default_rate: "12.5".into(),
            sku_rates: "TEA-001 = 15\nTEA-008 = 16".into(),
            ..RulesFormFields::default()
        },
    )?;

    // Influencers: Mia (the printed account) and 60 generated creators of all sizes.
    let mut rng = Rng(0x7A4D_E4D0);
    let mut influencers: Vec<(User, Vec<&str>, Vec<&str>, i64)> = Vec::new();
    let mia = user(
        conn,
        start,
        &hash,
        Role::Influencer,
        ACCOUNTS[1].email,
        "Mia Chen",
        "Asia/Shanghai",
    )?;
    welcome(conn, now, base_url, &mia, Role::Influencer)?;
    let mut people = vec![(
        mia,
        "mia.streams".to_owned(),
        "Mia Chen".to_owned(),
        vec!["tea", "food"],
        vec!["CN", "HK"],
        vec![
            ("douyin", 1_200_000_i64, 520_i32),
            ("kuaishou", 310_000, 410),
        ],
    )];
    for n in 0..60 {
        let first = rng.pick(FIRST);
        let (cat, word) = *rng.pick(TOPICS);
        let handle = format!("{}.{}{}", first.to_lowercase(), word, n);
        let name = format!("{first} {}", word[..1].to_uppercase() + &word[1..]);
        let mut cats = vec![cat];
        let (extra, _) = *rng.pick(TOPICS);
        if extra != cat && rng.below(2) == 0 {
            cats.push(extra);
        }
        let regions: Vec<&str> = rng.pick(REGION_SETS).to_vec();
        // Follower counts from 2K to 5M, spread on a log scale.
        let tiers = [
            2_000_i64, 8_000, 25_000, 60_000, 150_000, 400_000, 1_100_000, 3_000_000,
        ];
        let base = *rng.pick(&tiers);
        let followers =
            base + i64::try_from(rng.below(usize::try_from(base).unwrap_or(1))).unwrap_or(0);
        let platforms: &[&str] = PLATFORM_FOR
            .iter()
            .find(|(r, _)| *r == regions[0])
            .map_or(&["tiktok", "instagram", "youtube"], |(_, p)| *p);
        let mut accounts = vec![(
            *rng.pick(platforms),
            followers,
            i32::try_from(100 + rng.below(800)).unwrap_or(300),
        )];
        if rng.below(3) == 0 {
            let other = *rng.pick(&["instagram", "youtube", "other"]);
            if other != accounts[0].0 {
                accounts.push((
                    other,
                    followers / 4,
                    i32::try_from(150 + rng.below(500)).unwrap_or(300),
                ));
            }
        }
        let email = format!("{}@creators.demo.tandem.test", handle.replace('.', "_"));
        let u = user(
            conn,
            start + TimeDelta::hours(i64::from(n)),
            &hash,
            Role::Influencer,
            &email,
            &name,
            "UTC",
        )?;
        people.push((u, handle, name, cats, regions, accounts));
    }
    for (u, handle, name, cats, regions, accounts) in people {
        db::influencers::insert(
            conn,
            &NewInfluencer {
                user_id: u.id,
                handle: &handle,
                display_name: &name,
                bio: "",
                country: None,
                created_at: u.created_at,
                updated_at: u.created_at,
            },
        )?;
        let bio = format!(
            "{} content for an audience in {}. Live most weeks.",
            cats.iter()
                .map(|c| crate::domain::catalog::category_label(c))
                .collect::<Vec<_>>()
                .join(" and "),
            regions.join(", ")
        );
        super::influencer::update_profile(
            conn,
            u.created_at,
            u.id,
            &ProfileForm {
                display_name: name.clone(),
                handle: handle.clone(),
                bio,
                country: regions[0].into(),
                categories: cats.iter().map(|c| (*c).to_owned()).collect(),
                regions: regions.iter().map(|r| (*r).to_owned()).collect(),
                languages: vec![
                    if regions[0] == "CN" || regions[0] == "HK" || regions[0] == "TW" {
                        "zh".into()
                    } else {
                        "en".into()
                    },
                ],
            },
        )
        .map_err(|e| demo_error(&handle, e))?;
        for (platform, followers, engagement) in &accounts {
            super::influencer::add_account(
                conn,
                u.created_at,
                u.id,
                &SocialAccountForm {
                    platform: (*platform).into(),
                    account_handle: handle.replace('.', "_"),
                    followers: followers.to_string(),
                    avg_views: (followers / 12).to_string(),
                    engagement: crate::domain::rate::show_bps(*engagement)
                        .trim_end_matches('%')
                        .to_owned(),
                },
            )
            .map_err(|e| demo_error(&handle, e))?;
        }
        let total: i64 = accounts.iter().map(|a| a.1).sum();
        influencers.push((u, cats, regions, total));
    }
    let mia_user = influencers[0].0.clone();
    // Plain JSON here: whoever loads the demo seals it right after (`seal_plain_details`).
    let mia_profile =
        db::influencers::find_by_user(conn, mia_user.id)?.ok_or(AppError::NotFound)?;
    db::influencers::set_payout(
        conn,
        mia_profile.id,
        "bank",
        "CNY",
        &serde_json::json!({
            "method": "bank",
            "currency": "",
            "account_holder": "Mia Chen",
            "bank_name": "China Merchants Bank",
            "account_number": "6225880212345678",
            "paypal_email": "",
        })
        .to_string(),
        start,
    )?;

    // Collaborations in every state.
    let at = |user_id: i64, now: NaiveDateTime| super::collaborations::Actor {
        now,
        base_url,
        user_id,
    };
    let day = |d: i64| start + TimeDelta::days(d);
    let inf_id = |conn: &mut DbConn, u: &User| -> AppResult<i64> {
        Ok(db::influencers::find_by_user(conn, u.id)?
            .ok_or(AppError::NotFound)?
            .id)
    };
    // Mia: active on the tea festival (applied, approved), invited to the collectors club at
    // a personal rate, applied to the serum launch, declined by Voltix, ended on headphones.
    let tea = campaign_ids[0];
    let c = super::collaborations::apply(
        conn,
        at(mia_user.id, day(5)),
        tea,
        "I brew tea live every Friday night for 1.2M followers.",
    )?;
    super::collaborations::act(
        conn,
        at(owners[0].id, day(6)),
        Side::Merchant,
        c,
        CollabAction::Approve,
        "Welcome aboard!",
    )?;
    let mia_id = inf_id(conn, &mia_user)?;
    super::collaborations::invite(
        conn,
        at(owners[0].id, day(10)),
        campaign_ids[1],
        mia_id,
        "18",
        "Your audience loves aged teas: join our collectors club.",
    )?;
    super::collaborations::apply(
        conn,
        at(mia_user.id, day(12)),
        campaign_ids[3],
        "My followers ask about skincare for tea lovers' mornings.",
    )?;
    let gear = super::collaborations::invite(
        conn,
        at(owners[2].id, day(8)),
        campaign_ids[5],
        mia_id,
        "",
        "",
    )?;
    super::collaborations::act(
        conn,
        at(mia_user.id, day(9)),
        Side::Influencer,
        gear,
        CollabAction::Reject,
        "Not my audience, thank you!",
    )?;
    let hp = super::collaborations::invite(
        conn,
        at(owners[2].id, day(3)),
        campaign_ids[6],
        mia_id,
        "",
        "",
    )?;
    super::collaborations::act(
        conn,
        at(mia_user.id, day(4)),
        Side::Influencer,
        hp,
        CollabAction::Accept,
        "",
    )?;
    super::collaborations::act(
        conn,
        at(owners[2].id, day(30)),
        Side::Merchant,
        hp,
        CollabAction::End,
        "The holiday campaign is over. Thanks!",
    )?;

    // Others: applications to open campaigns they qualify for; merchants approve, decline or
    // leave them to review; some invitations.
    let open: [(usize, &str); 4] = [
        (0, "tea"),
        (3, "beauty"),
        (5, "electronics"),
        (6, "electronics"),
    ];
    for (n, (u, cats, _, _)) in influencers.iter().enumerate().skip(1) {
        for (ci, cat) in open {
            if !cats.contains(&cat) {
                continue;
            }
            let id = campaign_ids[ci];
            let applied = super::collaborations::apply(
                conn,
                at(u.id, day(4 + i64::try_from(n % 5).unwrap_or(0))),
                id,
                "I'd love to feature this.",
            );
            let Ok(collab) = applied else { continue };
            let owner = &owners[specs[ci].owner];
            match n % 4 {
                0 | 1 => {
                    // Approved the day after applying: the earliest have orders old enough
                    // to be paid out.
                    super::collaborations::act(
                        conn,
                        at(owner.id, day(6 + i64::try_from(n % 5).unwrap_or(0))),
                        Side::Merchant,
                        collab,
                        CollabAction::Approve,
                        "",
                    )?;
                    if n % 12 == 1 {
                        super::collaborations::act(
                            conn,
                            at(u.id, day(40)),
                            Side::Influencer,
                            collab,
                            CollabAction::End,
                            "Taking a break.",
                        )?;
                    }
                }
                2 => {
                    super::collaborations::act(
                        conn,
                        at(owner.id, day(27)),
                        Side::Merchant,
                        collab,
                        CollabAction::Decline,
                        "Not the right fit this season.",
                    )?;
                }
                _ => {}
            }
        }
    }
    // A newcomer on the tea festival, approved 25 days ago: nothing of theirs is past the
    // hold yet, and their first order through the link comes seconds after its click (frozen
    // for review below), so a run leaves them out for that alone.
    if let Some((newcomer, _)) = db::collaborations::for_campaign(conn, tea)?
        .into_iter()
        .filter(|(c, _)| c.state == "applied")
        .min_by_key(|(c, _)| c.id)
    {
        super::collaborations::act(
            conn,
            at(owners[0].id, day(20)),
            Side::Merchant,
            newcomer.id,
            CollabAction::Approve,
            "Welcome! Your first stream is on us.",
        )?;
    }
    // Another, on the serum launch, approved 37 days ago: their first orders are past the
    // hold, but they have not added a payout method yet.
    let mut no_method = None;
    if let Some((newcomer, inf)) = db::collaborations::for_campaign(conn, campaign_ids[3])?
        .into_iter()
        .filter(|(c, _)| c.state == "applied" && c.influencer_id != mia_id)
        .min_by_key(|(c, _)| c.id)
    {
        super::collaborations::act(
            conn,
            at(owners[1].id, day(8)),
            Side::Merchant,
            newcomer.id,
            CollabAction::Approve,
            "Welcome! Samples ship this week.",
        )?;
        no_method = Some(inf.id);
    }
    for (n, (u, cats, _, followers)) in influencers.iter().enumerate().skip(1) {
        if cats.contains(&"tea") && *followers >= 100_000 && n % 2 == 0 {
            let id = inf_id(conn, u)?;
            super::collaborations::invite(
                conn,
                at(owners[0].id, day(15)),
                campaign_ids[1],
                id,
                "",
                "An invitation to our collectors club.",
            )?;
        }
        if cats.contains(&"beauty") && n % 3 == 0 {
            let id = inf_id(conn, u)?;
            let _ = super::collaborations::invite(
                conn,
                at(owners[1].id, day(18)),
                campaign_ids[4],
                id,
                "14",
                "Join our sunscreen campaign at a personal rate.",
            );
        }
    }
    // Streams, links on active collaborations, and a few weeks of clicks (repeats and bots
    // included) so the numbers are real.
    // One transaction: quicker, and click row ids are taken under the write lock.
    db::write_tx(conn, |conn| {
        streams_links_and_clicks(conn, now, &mut rng, &campaign_ids)
    })?;
    // Orders through those links and coupons, unattributed ones, refunds, and commissions in
    // every state, so the ledger is alive.
    orders_and_commissions(
        conn,
        now,
        &mut rng,
        &campaign_ids,
        (finance.id, checker.id),
        base_url,
        no_method,
    )?;
    // The demo creator is live now: the live board has a stream in progress to show.
    live_now(conn, now, &mut rng, base_url)?;
    // Last year's headphones campaign is over.
    super::campaigns::change_state(
        conn,
        day(41),
        owners[2].id,
        campaign_ids[6],
        crate::domain::campaign::CampaignAction::End,
    )?;
    if with_billing {
        billing(conn, now, finance.id, base_url)?;
    }
    Ok(DemoLoad::Loaded)
}

/// A stream of the demo creator live now, 38 minutes in: clicks minute by minute, rising
/// while the host shows the product, orders through them a few minutes later, and a coupon
/// sale, each stored as the click writer and the postbacks store them.
fn live_now(conn: &mut DbConn, now: NaiveDateTime, rng: &mut Rng, base_url: &str) -> AppResult<()> {
    use crate::db::models::{BatchTime, NewClick, NewLink, NewStream};
    use crate::domain::links::{click_id_for, new_code, salted_hash, visitor_key};
    use crate::domain::order::OrderInput;
    let Some(email) = ACCOUNTS
        .iter()
        .find(|a| a.role == Role::Influencer)
        .map(|a| a.email)
    else {
        return Ok(());
    };
    let Some(user) = db::users::find_by_email(conn, email)? else {
        return Ok(());
    };
    let me = super::influencer::profile_of(conn, user.id)?;
    let Some((col, campaign, _)) = db::collaborations::for_influencer(conn, me.id)?
        .into_iter()
        .find(|(c, _, _)| c.state == "active")
    else {
        return Ok(());
    };
    let products: Vec<_> = db::catalog::for_campaign(conn, &campaign)?
        .into_iter()
        .filter(|p| p.active && p.currency == campaign.currency)
        .collect();
    let Some(product) = products.first() else {
        return Ok(());
    };
    let started = now - TimeDelta::minutes(38);
    let stream_id = db::links::insert_stream(
        conn,
        &NewStream {
            influencer_id: me.id,
            title: &format!("Friday night tasting: {}", product.title),
            platform: "douyin",
            scheduled_at: Some(started),
            published_url: None,
            created_at: started - TimeDelta::days(2),
        },
    )?;
    db::live::start(conn, stream_id, started)?;
    let code = new_code();
    let link_id = db::links::insert_link(
        conn,
        &NewLink {
            code: &code,
            collaboration_id: col.id,
            influencer_id: me.id,
            merchant_id: campaign.merchant_id,
            campaign_id: campaign.id,
            product_id: Some(product.id),
            stream_id: Some(stream_id),
            destination: &product.product_url,
            label: "live: pinned product",
            created_at: started - TimeDelta::days(2),
        },
    )?;
    let mut clicked: Vec<(NaiveDateTime, String)> = Vec::new();
    db::write_tx(conn, |conn| {
        let mut minutes: std::collections::BTreeMap<i64, (i64, i64, i64)> = Default::default();
        for m in 0..38_i64 {
            // Slow at first, busiest while the product is on screen (minutes 18-28).
            let n = 1 + m / 6 + if (18..28).contains(&m) { 6 } else { 0 };
            for k in 0..n {
                let at = started
                    + TimeDelta::minutes(m)
                    + TimeDelta::seconds(i64::try_from(rng.below(60)).unwrap_or(0));
                let bot = k == 0 && m % 11 == 5;
                let ua = if bot {
                    "Googlebot/2.1 (+http://www.google.com/bot.html)"
                } else {
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 aweme_29.1"
                };
                let ip = salted_hash(b"demo-live", &format!("{m}-{k}"));
                let ua = salted_hash(b"demo", ua);
                let row_id = db::links::next_click_id(conn)?;
                let click_id = click_id_for(row_id);
                db::links::insert_clicks(
                    conn,
                    &[NewClick {
                        id: row_id,
                        click_id: &click_id,
                        link_id,
                        stream_id: Some(stream_id),
                        created_at: &BatchTime::new(at),
                        ip_hash: &ip,
                        ua_hash: &ua,
                        referrer_host: Some("www.douyin.com"),
                        is_bot: bot,
                        is_repeat: false,
                        visitor_key: visitor_key(&ip, &ua),
                    }],
                )?;
                let c = minutes.entry(db::live::minute_of(at)).or_default();
                c.0 += 1;
                if bot {
                    c.2 += 1;
                } else {
                    c.1 += 1;
                    clicked.push((at, click_id));
                }
            }
        }
        // The rollups: on PostgreSQL here, as the click commits do; on SQLite the rollup
        // folds them in from the rows.
        if let DbConn::Pg(_) = conn {
            for (minute, (n, unique, bots)) in minutes {
                let quarter = minute.div_euclid(db::stats::QUARTER_SECS) * db::stats::QUARTER_SECS;
                let day = chrono::DateTime::from_timestamp(minute, 0)
                    .unwrap_or_default()
                    .format("%Y-%m-%d")
                    .to_string();
                db::links::bump_daily(conn, link_id, &day, n, unique, bots)?;
                db::stats::bump_clicks(conn, link_id, quarter, n, unique, bots)?;
                db::live::bump_clicks(conn, link_id, minute, n, unique, bots)?;
            }
        }
        AppResult::Ok(())
    })?;
    db::links::roll_up_clicks(conn, Vec::new, i64::MAX)?;
    let currency = crate::domain::money::Currency::parse(&campaign.currency)
        .map_err(|e| AppError::Internal(e.into()))?;
    let all = db::catalog::all_of(conn, campaign.merchant_id)?;
    // Every seventh human click buys, two to six minutes later (if that is not after now).
    for (n, (at, click_id)) in clicked.iter().enumerate().filter(|(n, _)| n % 7 == 3) {
        let when = *at + TimeDelta::minutes(i64::try_from(2 + rng.below(5)).unwrap_or(2));
        if when > now {
            continue;
        }
        super::orders::record_conversion(
            conn,
            when,
            campaign.merchant_id,
            "api",
            base_url,
            &OrderInput {
                order_id: format!("LIVE-{}", 1000 + n),
                currency,
                occurred_at: when,
                click_id: Some(click_id.clone()),
                coupon_code: None,
                customer_email: None,
                items: demo_items(rng, &products, &all),
                also_known_as: Vec::new(),
            },
        )?;
    }
    if let Some(coupon) = &col.coupon_code {
        let when = now - TimeDelta::minutes(4);
        super::orders::record_conversion(
            conn,
            when,
            campaign.merchant_id,
            "api",
            base_url,
            &OrderInput {
                order_id: "LIVE-COUPON-1".to_owned(),
                currency,
                occurred_at: when,
                click_id: None,
                coupon_code: Some(coupon.clone()),
                customer_email: None,
                items: demo_items(rng, &products, &all),
                also_known_as: Vec::new(),
            },
        )?;
    }
    Ok(())
}

/// For every active collaboration: one stream, a link to the merchant's best product, and
/// clicks spread over the last three weeks.
fn streams_links_and_clicks(
    conn: &mut DbConn,
    now: NaiveDateTime,
    rng: &mut Rng,
    campaign_ids: &[i64],
) -> AppResult<()> {
    use crate::db::models::{BatchTime, NewClick, NewLink, NewStream};
    use crate::domain::links::{click_id_for, new_code, salted_hash, visitor_key};
    let active: Vec<(
        crate::db::models::Collaboration,
        crate::db::models::Influencer,
    )> = {
        let mut all = Vec::new();
        for id in campaign_ids {
            all.extend(
                db::collaborations::for_campaign(conn, *id)?
                    .into_iter()
                    .filter(|(col, _)| col.state == "active"),
            );
        }
        all
    };
    const AGENTS: &[&str] = &[
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 aweme_29.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 Chrome/123.0 Mobile Safari/537.36 Kwai/11.2",
    ];
    const REFERRERS: &[Option<&str>] = &[
        Some("www.douyin.com"),
        Some("www.kuaishou.com"),
        Some("www.tiktok.com"),
        None,
    ];
    for (n, (col, influencer)) in active.iter().enumerate() {
        let campaign = db::campaigns::find(conn, col.campaign_id)?.ok_or(AppError::NotFound)?;
        let Some(product) = db::catalog::for_campaign(conn, &campaign)?
            .into_iter()
            .find(|p| p.active)
        else {
            continue;
        };
        let platform = db::influencers::accounts_of(conn, &[influencer.id])?
            .first()
            .map_or("douyin".to_owned(), |a| a.platform.clone());
        let stream_at = now - TimeDelta::days(21);
        let stream_id = db::links::insert_stream(
            conn,
            &NewStream {
                influencer_id: influencer.id,
                title: &format!("{} live: {}", campaign.name, product.title),
                platform: &platform,
                scheduled_at: Some(stream_at),
                published_url: None,
                created_at: stream_at,
            },
        )?;
        let code = new_code();
        let link_id = db::links::insert_link(
            conn,
            &NewLink {
                code: &code,
                collaboration_id: col.id,
                influencer_id: influencer.id,
                merchant_id: campaign.merchant_id,
                campaign_id: campaign.id,
                product_id: Some(product.id),
                stream_id: Some(stream_id),
                destination: &product.product_url,
                label: "pinned comment",
                created_at: stream_at,
            },
        )?;
        // Bigger creators get more clicks; each day some visitors come back (repeats) and a
        // few crawlers pass by (bots).
        let per_day =
            3 + usize::try_from((influencer.total_followers / 40_000).min(60)).unwrap_or(0) + n % 5;
        // Per day and minute of the clicks' own time: (clicks, unique, bots).
        let mut daily: std::collections::BTreeMap<(String, i64), (i64, i64, i64)> =
            Default::default();
        for d in 0..21_i64 {
            let day_start = stream_at + TimeDelta::days(d);
            let mut visitors: Vec<(String, String)> = Vec::new();
            for k in 0..(per_day / (1 + usize::try_from(d % 7).unwrap_or(0) / 3)) {
                let at =
                    day_start + TimeDelta::minutes(i64::try_from(rng.below(1_380)).unwrap_or(0));
                let bot = rng.below(12) == 0;
                let (ip, ua) = if !bot && !visitors.is_empty() && rng.below(6) == 0 {
                    visitors[rng.below(visitors.len())].clone()
                } else {
                    let ua = if bot {
                        "Googlebot/2.1 (+http://www.google.com/bot.html)"
                    } else {
                        AGENTS[rng.below(AGENTS.len())]
                    };
                    (
                        salted_hash(b"demo", &format!("{n}-{d}-{k}")),
                        salted_hash(b"demo", ua),
                    )
                };
                let repeat = visitors.contains(&(ip.clone(), ua.clone()));
                let row_id = db::links::next_click_id(conn)?;
                db::links::insert_clicks(
                    conn,
                    &[NewClick {
                        id: row_id,
                        click_id: &click_id_for(row_id),
                        link_id,
                        stream_id: Some(stream_id),
                        created_at: &BatchTime::new(at),
                        ip_hash: &ip,
                        ua_hash: &ua,
                        referrer_host: REFERRERS[rng.below(REFERRERS.len())],
                        is_bot: bot,
                        is_repeat: repeat,
                        visitor_key: visitor_key(&ip, &ua),
                    }],
                )?;
                let counts = daily
                    .entry((at.format("%Y-%m-%d").to_string(), db::live::minute_of(at)))
                    .or_default();
                counts.0 += 1;
                if bot {
                    counts.2 += 1;
                } else if !repeat {
                    counts.1 += 1;
                    visitors.push((ip, ua));
                }
            }
        }
        // The daily rollups: on PostgreSQL added here, as the click writer's commits do; on
        // SQLite folded in from the clicks below, as the rollup job does.
        if let DbConn::Pg(_) = conn {
            for ((day, minute), (total, unique, bots)) in daily {
                let quarter = minute.div_euclid(db::stats::QUARTER_SECS) * db::stats::QUARTER_SECS;
                db::links::bump_daily(conn, link_id, &day, total, unique, bots)?;
                db::stats::bump_clicks(conn, link_id, quarter, total, unique, bots)?;
                db::live::bump_clicks(conn, link_id, minute, total, unique, bots)?;
            }
        }
    }
    db::links::roll_up_clicks(conn, Vec::new, i64::MAX)?;
    Ok(())
}

/// One demo order of 1-2 campaign products (sometimes with a product outside the campaign).
fn demo_items(
    rng: &mut Rng,
    products: &[crate::db::models::Product],
    all: &[crate::db::models::Product],
) -> Vec<crate::domain::order::ItemInput> {
    let mut items = Vec::new();
    let n = 1 + rng.below(2);
    for _ in 0..n {
        let p = rng.pick(products);
        if items
            .iter()
            .any(|i: &crate::domain::order::ItemInput| i.sku == p.sku)
        {
            continue;
        }
        let quantity = i64::try_from(1 + rng.below(3)).unwrap_or(1);
        let discount = if rng.below(4) == 0 {
            p.price_minor / 10
        } else {
            0
        };
        items.push(crate::domain::order::ItemInput {
            sku: p.sku.clone(),
            quantity,
            unit_price_minor: p.price_minor,
            discount_minor: discount,
        });
    }
    if rng.below(4) == 0
        && let Some(extra) = all.iter().find(|p| !products.iter().any(|q| q.id == p.id))
    {
        items.push(crate::domain::order::ItemInput {
            sku: extra.sku.clone(),
            quantity: 1,
            unit_price_minor: extra.price_minor,
            discount_minor: 0,
        });
    }
    items
}

/// Orders attributed by link and by coupon, unattributed orders, partial and full refunds
/// (one after payout: a clawback), and commissions in every state including a frozen and a
/// rejected one. Everything goes through the same services as real orders.
fn orders_and_commissions(
    conn: &mut DbConn,
    now: NaiveDateTime,
    rng: &mut Rng,
    campaign_ids: &[i64],
    (finance_id, checker_id): (i64, i64),
    base_url: &str,
    no_method: Option<i64>,
) -> AppResult<()> {
    use super::orders::{mature_due, record_conversion, record_refund, review_frozen};
    use crate::domain::order::{OrderInput, RefundInput};
    let mut n_order = 1000;
    let mut next_id = |prefix: &str| {
        n_order += 1;
        format!("{prefix}-{n_order}")
    };
    let mut click_orders: Vec<(i64, String)> = Vec::new();
    let mut frozen_done = 0;
    let mut merchants_seen: Vec<i64> = Vec::new();
    for id in campaign_ids {
        let campaign = db::campaigns::find(conn, *id)?.ok_or(AppError::NotFound)?;
        let currency = crate::domain::money::Currency::parse(&campaign.currency)
            .map_err(|e| AppError::Internal(e.into()))?;
        let products: Vec<_> = db::catalog::for_campaign(conn, &campaign)?
            .into_iter()
            .filter(|p| p.active && p.currency == campaign.currency)
            .collect();
        let all = db::catalog::all_of(conn, campaign.merchant_id)?;
        if products.is_empty() {
            continue;
        }
        for (col, influencer) in db::collaborations::for_campaign(conn, campaign.id)?
            .into_iter()
            .filter(|(c, _)| c.state == "active")
        {
            let activated = db::collaborations::events(conn, col.id)?
                .iter()
                .filter(|e| e.to_state == "active")
                .map(|e| e.created_at)
                .max();
            // Through the stream link: orders minutes after real clicks.
            let links: Vec<_> = db::links::links_of(conn, influencer.id)?
                .into_iter()
                .filter(|l| l.collaboration_id == col.id)
                .collect();
            for link in &links {
                let clicks = db::links::counted_clicks_of(conn, link.id, 40)?;
                // The newcomer's first order comes 4 s after its click: frozen for review.
                let newcomer = activated.is_some_and(|a| a > now - TimeDelta::days(30));
                for (k, click) in clicks.iter().enumerate().filter(|(k, _)| k % 9 == 4) {
                    let fast = newcomer && frozen_done == 0 && k == 4;
                    let gap = if fast {
                        TimeDelta::seconds(4)
                    } else {
                        TimeDelta::minutes(i64::try_from(2 + rng.below(40)).unwrap_or(5))
                    };
                    if fast {
                        frozen_done += 1;
                    }
                    let order_id = next_id("ORD");
                    record_conversion(
                        conn,
                        click.created_at + gap,
                        campaign.merchant_id,
                        "api",
                        base_url,
                        &OrderInput {
                            order_id: order_id.clone(),
                            currency,
                            occurred_at: click.created_at + gap,
                            click_id: Some(click.click_id.clone()),
                            coupon_code: None,
                            customer_email: None,
                            items: demo_items(rng, &products, &all),
                            also_known_as: Vec::new(),
                        },
                    )?;
                    click_orders.push((campaign.merchant_id, order_id));
                }
            }
            // With the coupon: one long enough ago to have matured (when the collaboration
            // was already active then), and a recent one.
            if let Some(coupon) = &col.coupon_code {
                let mut times = vec![now - TimeDelta::days(2)];
                for d in [36, 35, 34, 33, 32] {
                    let at = now - TimeDelta::days(d);
                    if activated.is_some_and(|a| a < at) {
                        times.push(at);
                    }
                }
                for at in times {
                    record_conversion(
                        conn,
                        at,
                        campaign.merchant_id,
                        "api",
                        base_url,
                        &OrderInput {
                            order_id: next_id("ORD"),
                            currency,
                            occurred_at: at,
                            click_id: None,
                            coupon_code: Some(coupon.to_lowercase()),
                            customer_email: None,
                            items: demo_items(rng, &products, &all),
                            also_known_as: Vec::new(),
                        },
                    )?;
                }
            }
        }
        // Orders nobody gets credit for, once per merchant.
        if !merchants_seen.contains(&campaign.merchant_id) {
            merchants_seen.push(campaign.merchant_id);
            for d in [1, 6, 13] {
                let at = now - TimeDelta::days(d) - TimeDelta::hours(3);
                record_conversion(
                    conn,
                    at,
                    campaign.merchant_id,
                    "csv",
                    base_url,
                    &OrderInput {
                        order_id: next_id("WEB"),
                        currency,
                        occurred_at: at,
                        click_id: None,
                        coupon_code: None,
                        customer_email: None,
                        items: demo_items(rng, &products, &all),
                        also_known_as: Vec::new(),
                    },
                )?;
            }
        }
    }
    // Held commissions whose hold is over become available.
    mature_due(conn, now)?;

    // Payouts: a weekly schedule per currency; every creator but the last has a payout
    // method, and a creator new on the serum launch has not added one yet. Last week's run is approved, exported and paid, but for one payout the bank
    // returned; this week's run (after the refunds below) waits for approval.
    let slots = demo_payouts(conn, now, (finance_id, checker_id), base_url, no_method)?;
    // Refunds: the whole of a paid order (a clawback), part of an available one and of a
    // pending one (reversals), and the whole of another pending one.
    let refund = |conn: &mut DbConn,
                  c: &crate::db::models::CommissionRow,
                  part: bool,
                  id: &str|
     -> AppResult<()> {
        let conversion =
            db::orders::conversion(conn, c.conversion_id)?.ok_or(AppError::NotFound)?;
        let currency = crate::domain::money::Currency::parse(&conversion.currency)
            .map_err(|e| AppError::Internal(e.into()))?;
        let amount = if part {
            conversion.base_minor / 3
        } else {
            conversion.base_minor
        };
        let at = now.max(conversion.occurred_at) - TimeDelta::hours(1);
        let at = at.max(conversion.occurred_at);
        record_refund(
            conn,
            now,
            conversion.merchant_id,
            "api",
            &RefundInput {
                order_id: conversion.order_id.clone(),
                refund_id: id.to_owned(),
                amount: crate::domain::money::Money::from_minor(amount, currency)
                    .map_err(|e| AppError::Internal(e.into()))?
                    .to_plain_string(),
                occurred_at: at,
            },
        )?;
        Ok(())
    };
    if let Some(c) = db::orders::commissions_in_state(conn, "paid")?.first() {
        refund(conn, c, false, "RF-9001")?;
    }
    if let Some(c) = db::orders::commissions_in_state(conn, "available")?.first() {
        refund(conn, c, true, "RF-9002")?;
    }
    let pending = db::orders::commissions_in_state(conn, "pending")?;
    if let Some(c) = pending.first() {
        refund(conn, c, true, "RF-9003")?;
    }
    if let Some(c) = pending.get(1) {
        refund(conn, c, false, "RF-9004")?;
    }
    // Review: a second frozen commission (a self-purchase) is rejected by finance; the fast
    // order (the newcomer's) stays frozen for finance to review.
    if let Some((merchant_id, order_id)) = click_orders.get(1) {
        let conversion =
            db::orders::find_conversion(conn, *merchant_id, order_id)?.ok_or(AppError::NotFound)?;
        if let Some(inf_id) = conversion.influencer_id
            && let Some(inf) = db::influencers::find(conn, inf_id)?
            && let Some(u) = db::users::find(conn, inf.user_id)?
        {
            let campaign = db::campaigns::find(conn, conversion.campaign_id.unwrap_or(0))?
                .ok_or(AppError::NotFound)?;
            let lines = db::orders::lines_of(conn, conversion.id)?;
            let at = conversion.occurred_at + TimeDelta::hours(2);
            let r = record_conversion(
                conn,
                at,
                *merchant_id,
                "api",
                base_url,
                &OrderInput {
                    order_id: next_id("ORD"),
                    currency: crate::domain::money::Currency::parse(&campaign.currency)
                        .map_err(|e| AppError::Internal(e.into()))?,
                    occurred_at: at,
                    click_id: conversion.click_id.clone(),
                    coupon_code: None,
                    customer_email: Some(u.email.clone()),
                    items: lines
                        .iter()
                        .map(|l| crate::domain::order::ItemInput {
                            sku: l.sku.clone(),
                            quantity: l.quantity,
                            unit_price_minor: l.unit_price_minor,
                            discount_minor: l.discount_minor,
                        })
                        .collect(),
                    also_known_as: Vec::new(),
                },
            )?;
            if let Some(c) = r.commission.filter(|c| c.state == "frozen") {
                review_frozen(
                    conn,
                    now,
                    finance_id,
                    c.id,
                    false,
                    "The buyer is the creator: self-purchases do not earn commission.",
                )?;
            }
        }
    }
    // This week's runs wait for finance's approval.
    for (schedule, slot) in slots {
        super::payouts::run_schedule(conn, now, base_url, &schedule, slot, None, &mut |_, _| {})?;
    }
    Ok(())
}

/// The demo's payout schedules and last week's runs (paid, one payout failed); returns each
/// schedule with this week's slot.
fn demo_payouts(
    conn: &mut DbConn,
    now: NaiveDateTime,
    (finance_id, checker_id): (i64, i64),
    base_url: &str,
    no_method: Option<i64>,
) -> AppResult<Vec<(crate::db::models::PayoutSchedule, NaiveDateTime)>> {
    use super::payouts::{self, RunOutcome, Settlement};
    use crate::domain::payout::FireRule;
    let influencers = {
        use diesel::prelude::*;
        crate::db::schema::influencers::table
            .order(crate::db::schema::influencers::id)
            .select((
                crate::db::schema::influencers::id,
                crate::db::schema::influencers::display_name,
            ))
            .load::<(i64, String)>(conn)?
    };
    let with_method = influencers.len().saturating_sub(1);
    for (n, (id, name)) in influencers.iter().take(with_method).enumerate() {
        if Some(*id) == no_method {
            continue;
        }
        let details = serde_json::json!({
            "method": "bank",
            "currency": "",
            "account_holder": name,
            "bank_name": if n % 2 == 0 { "China Merchants Bank" } else { "Bank of China" },
            "account_number": format!("62258801{:08}", 4_000_000 + n * 7_919),
            "paypal_email": "",
        });
        // Every third creator is paid by PayPal.
        let (method, details) = if n % 3 == 2 {
            (
                "paypal",
                serde_json::json!({
                    "method": "paypal",
                    "currency": "",
                    "account_holder": "",
                    "bank_name": "",
                    "account_number": "",
                    "paypal_email": format!("creator{}@paypal.example", id),
                }),
            )
        } else {
            ("bank", details)
        };
        db::influencers::set_payout(conn, *id, method, "CNY", &details.to_string(), now)?;
    }
    let mut slots = Vec::new();
    for (name, zone, currency, minimum) in [
        ("Weekly CNY", "Asia/Shanghai", "CNY", "50.00"),
        ("Weekly USD", "America/New_York", "USD", "500.00"),
    ] {
        let id = payouts::save_schedule(
            conn,
            now,
            finance_id,
            None,
            &payouts::ScheduleForm {
                name: name.into(),
                cron: "0 0 10 * * Mon".into(),
                time_zone: zone.into(),
                currency: currency.into(),
                minimum: minimum.into(),
                active: "on".into(),
                ..Default::default()
            },
        )?;
        let schedule = db::payouts::schedule(conn, id)?.ok_or(AppError::NotFound)?;
        let rule = FireRule::parse(&schedule.cron, &schedule.time_zone)
            .map_err(|(_, e)| AppError::Internal(anyhow::anyhow!(e)))?;
        let (Some(last_week), Some(this_week)) = (
            payouts::latest_slot(&rule, now - TimeDelta::days(7)),
            payouts::latest_slot(&rule, now),
        ) else {
            continue;
        };
        if let RunOutcome::Created(run, plan) = payouts::run_schedule(
            conn,
            now,
            base_url,
            &schedule,
            last_week,
            None,
            &mut |_, _| {},
        )? && !plan.payouts.is_empty()
        {
            payouts::approve(conn, now, checker_id, run.id, true)?;
            payouts::mark_exported(conn, now, finance_id, run.id, "bank CSV")?;
            let ps = db::payouts::payouts_of_run(conn, run.id)?;
            let outcomes: Vec<(i64, Settlement)> = ps
                .iter()
                .enumerate()
                .map(|(k, (p, _))| {
                    let outcome = if k == ps.len() - 1 && ps.len() > 1 {
                        Settlement::Failed {
                            reason: if p.method == "paypal" {
                                "PayPal returned it: the receiver's account is not confirmed".into()
                            } else {
                                "the bank returned it: the account number does not exist".into()
                            },
                        }
                    } else {
                        Settlement::Paid {
                            reference: format!("CMB{}{:05}", last_week.format("%Y%m%d"), p.id),
                        }
                    };
                    (p.id, outcome)
                })
                .collect();
            payouts::settle_payouts(conn, now, base_url, finance_id, run.id, &outcomes)?;
        }
        slots.push((schedule, this_week));
    }
    Ok(slots)
}

/// Billing as it stands a few days into the month: last month's invoices were issued when
/// it closed; Jade Leaf paid in full with ¥50.00 over (credit), Lumière paid part, and
/// Voltix's invoice is overdue with its reminder sent.
fn billing(conn: &mut DbConn, now: NaiveDateTime, finance: i64, base_url: &str) -> AppResult<()> {
    use crate::domain::billing as rules;
    db::billing::save_settings(
        conn,
        &db::billing::Settings {
            payee: "Tandem Commerce Ltd.".to_owned(),
            payment_instructions: "China Merchants Bank, Shanghai Lujiazui Branch\nAccount name: Tandem Commerce Ltd.\nAccount number: 6214 8301 2345 6789\nSWIFT: CMBCCNBS".to_owned(),
            tax_rate_bps: 600,
            tax_label: "VAT".to_owned(),
            updated_at: None,
        },
        finance,
        now - TimeDelta::days(45),
    )?;
    let merchants = db::merchants::all(conn)?;
    let id_of = |name: &str| merchants.iter().find(|m| m.name == name).map(|m| m.id);
    let (Some(jade), Some(lumiere), Some(voltix)) = (
        id_of("Jade Leaf Tea Co."),
        id_of("Lumière Beauty"),
        id_of("Voltix Electronics"),
    ) else {
        return Ok(());
    };
    // Voltix is on shorter terms, so that its invoice is past due today.
    let tz: chrono_tz::Tz = db::billing::merchant_zone(conn, voltix)?
        .parse()
        .unwrap_or(chrono_tz::Tz::UTC);
    let today = rules::local_date(now, tz);
    let month_start = rules::Period::month_of(today).start;
    let terms = i32::try_from((today - month_start).num_days() - 1)
        .unwrap_or(0)
        .clamp(0, 14);
    db::billing::set_terms(conn, voltix, terms, finance, now - TimeDelta::days(45))?;
    // Issued as the month closed (an hour into the new one, in the merchants' zones).
    let issued_at = rules::local_midnight(month_start, tz) + TimeDelta::hours(1);
    let issued_at = issued_at.min(now);
    super::billing::issue_due(conn, issued_at, base_url, false)?;
    let paid_at = (issued_at + TimeDelta::days(2)).min(now);
    let standing = |conn: &mut DbConn, m: i64| super::billing::standing(conn, m, today);
    let open_of = |s: &super::billing::Standing| -> Option<(String, i64, String)> {
        s.docs
            .iter()
            .find(|d| !d.invoice.is_credit_note() && d.open_minor() > 0)
            .map(|d| {
                (
                    d.invoice.currency.clone(),
                    d.open_minor(),
                    d.invoice.number.clone(),
                )
            })
    };
    let pay = |conn: &mut DbConn,
               m: i64,
               currency: &str,
               amount: i64,
               reference: &str,
               invoice: &str,
               payer: &str|
     -> AppResult<()> {
        let form = super::billing::PaymentForm {
            merchant_id: m.to_string(),
            currency: currency.to_owned(),
            amount: crate::domain::money::plain_in(amount, currency),
            value_date: paid_at.date().format("%Y-%m-%d").to_string(),
            bank_reference: reference.to_owned(),
            payer: payer.to_owned(),
            invoice: invoice.to_owned(),
        };
        match super::billing::validate_payment(conn, &form, paid_at.date())? {
            Ok(valid) => {
                super::billing::record_payment(conn, paid_at, base_url, finance, &valid, None)?;
                Ok(())
            }
            Err(e) => Err(AppError::Validation(e)),
        }
    };
    let s = standing(conn, jade)?;
    if let Some((currency, open, number)) = open_of(&s) {
        // Paid in full, and ¥50.00 over: credit for the next invoice.
        pay(
            conn,
            jade,
            &currency,
            open + 50_00,
            "CMB20261203-88120",
            &number,
            "Jade Leaf Tea Co.",
        )?;
    }
    let s = standing(conn, lumiere)?;
    if let Some((currency, open, number)) = open_of(&s) {
        pay(
            conn,
            lumiere,
            &currency,
            open / 2,
            "ICBC-LB-40917",
            &number,
            "Lumiere Beauty (Shanghai) Ltd",
        )?;
    }
    super::billing::send_reminders(conn, now, base_url)?;
    Ok(())
}
