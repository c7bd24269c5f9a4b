-- Raw tickets, one row per basket of every paid order, replaced a sales day at a time.
CREATE TABLE IF NOT EXISTS stg_qtickets_api_orders_raw
(
    org                       LowCardinality(String),
    sales_date                Date,
    order_id                  UInt64,
    basket_id                 UInt64,
    event_id                  UInt64,
    show_id                   UInt64,
    seat_id                   String,
    zone_id                   String,
    seat_row                  String,
    seat_place                String,
    seat_name                 String,
    quantity                  UInt32,
    sale_ts                   DateTime('UTC'),
    payed                     Bool,
    order_created_at          Nullable(DateTime('UTC')),
    order_updated_at          Nullable(DateTime('UTC')),
    order_deleted_at          Nullable(DateTime('UTC')),
    basket_created_at         Nullable(DateTime('UTC')),
    basket_updated_at         Nullable(DateTime('UTC')),
    basket_deleted_at         Nullable(DateTime('UTC')),
    checked_at                Nullable(DateTime('UTC')),
    refunded_at               Nullable(DateTime('UTC')),
    refunded_amount           Decimal(18, 2),
    refunded_deduction_amount Decimal(18, 2),
    original_price            Decimal(18, 2),
    discount_value            Decimal(18, 2),
    price                     Decimal(18, 2),
    service_fee_amount        Decimal(18, 2),
    currency                  LowCardinality(String),
    discount_id               Nullable(UInt64),
    promo_code_id             Nullable(UInt64),
    payment_type              LowCardinality(String),
    utm_source                String,
    utm_medium                String,
    utm_campaign              String,
    utm_content               String,
    utm_term                  String,
    site_host                 LowCardinality(String),
    buyer_key                 String COMMENT 'HMAC-SHA256 of the lower-cased e-mail with ZAKAZ_PII_KEY',
    loaded_at                 DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY (org, sales_date)
ORDER BY (org, sales_date, event_id, order_id, basket_id);

-- Inventory snapshots per show on sale; append-only, an exact retry collapses.
CREATE TABLE IF NOT EXISTS stg_qtickets_api_inventory_raw
(
    org           LowCardinality(String),
    snapshot_ts   DateTime('UTC'),
    event_id      UInt64,
    show_id       UInt64,
    tickets_total UInt32,
    tickets_left  UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(snapshot_ts)
ORDER BY (org, show_id, snapshot_ts);

CREATE TABLE IF NOT EXISTS dim_events
(
    org           LowCardinality(String),
    event_id      UInt64,
    event_name    String,
    is_active     Bool,
    is_deleted    Bool,
    deleted_at    Nullable(DateTime('UTC')),
    city_id       Nullable(UInt64),
    city          LowCardinality(String),
    city_timezone LowCardinality(String),
    place_name    String,
    place_address String,
    age           LowCardinality(String),
    currency      LowCardinality(String),
    show_count    UInt32,
    first_show_at Nullable(DateTime('UTC')),
    last_show_at  Nullable(DateTime('UTC')),
    created_at    Nullable(DateTime('UTC')),
    updated_at    Nullable(DateTime('UTC')),
    loaded_at     DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY org
ORDER BY (org, event_id);

CREATE TABLE IF NOT EXISTS dim_shows
(
    org              LowCardinality(String),
    show_id          UInt64,
    event_id         UInt64,
    show_name        String,
    is_active        Bool,
    is_deleted       Bool,
    deleted_at       Nullable(DateTime('UTC')),
    start_date       Nullable(DateTime('UTC')),
    finish_date      Nullable(DateTime('UTC')),
    open_date        Nullable(DateTime('UTC')),
    sale_start_date  Nullable(DateTime('UTC')),
    sale_finish_date Nullable(DateTime('UTC')),
    min_price        Nullable(Decimal(18, 2)),
    max_price        Nullable(Decimal(18, 2)),
    created_at       Nullable(DateTime('UTC')),
    updated_at       Nullable(DateTime('UTC')),
    loaded_at        DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY org
ORDER BY (org, event_id, show_id);

CREATE TABLE IF NOT EXISTS fact_qtickets_sales_daily
(
    sales_date      Date,
    org             LowCardinality(String),
    event_id        UInt64,
    city            LowCardinality(String),
    orders          UInt64,
    tickets_sold    UInt64,
    gross_revenue   Decimal(18, 2),
    refunded_amount Decimal(18, 2),
    revenue         Decimal(18, 2),
    loaded_at       DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY (org, sales_date)
ORDER BY (org, sales_date, event_id);

CREATE TABLE IF NOT EXISTS fact_qtickets_inventory_latest
(
    org           LowCardinality(String),
    show_id       UInt64,
    event_id      UInt64,
    event_name    String,
    city          LowCardinality(String),
    show_start_at Nullable(DateTime('UTC')),
    snapshot_ts   DateTime('UTC'),
    tickets_total UInt32,
    tickets_left  UInt32,
    on_sale       Bool COMMENT 'the show was in the newest snapshot, i.e. still on sale',
    loaded_at     DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY org
ORDER BY (org, event_id, show_id);
