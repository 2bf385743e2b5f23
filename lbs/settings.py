"""The platform's settings: each URL, port, credential and tunable its processes read.

Values come from environment variables prefixed ``LBS_`` (``DATABASE_URL`` and ``REDIS_URL`` are also read
unprefixed, as most tooling sets them). Nothing here does I/O: reading the environment happens when a
``Settings()`` is built, never at import. The emulators (the operator's network) have their own settings in
``les_simulator.settings`` under the same variable names, so one environment configures both sides.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lbs.clock import Clock, clock_from, parse_instant


class Settings(BaseSettings):
    """Every external address, credential and tunable of the platform's processes, the CLI and the demo."""

    model_config = SettingsConfigDict(env_prefix="LBS_", extra="ignore", populate_by_name=True)

    # --- storage -------------------------------------------------------------------------------------------
    pg_port: int = Field(5432, description="Port of the local PostgreSQL the bootstrap uses or creates.")
    redis_port: int = Field(6379, description="Port of the local Redis the bootstrap uses or starts.")
    database_url: str = Field(
        "",
        validation_alias=AliasChoices("DATABASE_URL", "LBS_DATABASE_URL"),
        description="PostgreSQL DSN; default postgresql://lbs:lbs@127.0.0.1:{pg_port}/lbs.",
    )
    redis_url: str = Field(
        "",
        validation_alias=AliasChoices("REDIS_URL", "LBS_REDIS_URL"),
        description="Redis URL; default redis://127.0.0.1:{redis_port}/0.",
    )
    db_pool_min: int = Field(1, description="Minimum connections in the asyncpg pool.")
    db_pool_max: int = Field(10, description="Maximum connections in the asyncpg pool.")

    # --- time ----------------------------------------------------------------------------------------------
    clock_at: str = Field(
        "",
        description="Pin the platform's clock at this ISO 8601 instant with offset (e.g. 2026-12-01T10:00+01:00); "
        "'': real time. Every time-dependent rule reads this clock.",
    )
    clock_frozen: bool = Field(
        False, description="With clock_at: time stands still at that instant (else it runs on from it)."
    )

    # --- development mode ----------------------------------------------------------------------------------
    dev_mode: bool = Field(
        False,
        description="Development mode (LBS_DEV_MODE=1; make run, make test and the demo set it): the only mode in "
        "which servers, workers and emulators start with the default secrets and logins.",
    )

    # --- platform API --------------------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Bind address of the platform API.")
    api_port: int = Field(8080, description="Port of the platform API.")
    max_body_bytes: int = Field(1_048_576, description="Largest request body the API accepts (413 beyond).")

    # --- MLP client (the platform asks the LES) ------------------------------------------------------------
    les_host: str = Field("127.0.0.1", description="Host of the LES (MLP server); the demo starts its emulator there.")
    les_port: int = Field(9210, description="Port of the LES (MLP over HTTP); the demo starts its emulator there.")
    les_url: str = Field("", description="MLP endpoint the platform calls; default http://{les_host}:{les_port}/mlp.")
    mlp_client_id: str = Field("demo", description="MLP client id the platform presents to the LES.")
    mlp_client_pwd: str = Field("demo", description="MLP client password the platform presents to the LES.")
    mlp_serviceid: str = Field("", description="MLP serviceid the platform presents to the LES (empty: none).")
    mlp_timeout_s: float = Field(10.0, description="Total timeout of one MLP request.")
    mlp_retries: int = Field(2, description="Retries of an MLP request on transient errors only.")
    mlp_retry_backoff_s: float = Field(0.1, description="First retry delay; doubles per retry.")
    mlp_breaker_threshold: int = Field(5, description="Consecutive LES failures that open the circuit breaker.")
    mlp_breaker_reset_s: float = Field(30.0, description="Time the open breaker fails fast before one trial call.")
    mlp_coarse_from_m: float = Field(1_000.0, description="Positions with accuracy at or above this are 'coarse'.")
    mlp_self_client_id: str = Field(
        "lbs-self", description="MLP client id the platform alone uses when a subscriber asks for their own position."
    )
    mlp_self_client_pwd: str = Field(
        "dev-self-location-pwd", description="Password of the platform's self-location MLP client."
    )

    # --- MLP push receiver (the LES reports to the platform) -----------------------------------------------
    mlp_push_listen: bool = Field(
        True, description="Whether this process serves the MLP push receiver on mlp_push_host:mlp_push_port."
    )
    mlp_push_host: str = Field("127.0.0.1", description="Bind address of the MLP push receiver (the LES's side only).")
    mlp_push_port: int = Field(9211, description="Port of the MLP push receiver, apart from the provider-facing API.")
    mlp_push_url: str = Field(
        "",
        description="pushaddr the platform gives the LES for slirep/tlrep reports; default http://{mlp_push_host}:"
        "{mlp_push_port}/mlp/push.",
    )
    mlp_push_user: str = Field("lbs-push", description="User the LES presents (Basic auth) when it pushes reports.")
    mlp_push_pwd: str = Field(
        "dev-push-secret",
        description="Password the LES presents (Basic auth) when it pushes reports; sent to it in each pushaddr.",
    )
    mlp_max_push_bytes: int = Field(8_388_608, description="Largest pushed report document the platform parses.")
    mlp_push_max_skew_s: float = Field(
        30.0, description="How far in the future (s) a pushed position's time may be; a later one refuses the document."
    )
    mlp_async_req_ttl_s: float = Field(
        600.0, description="How long the push receiver accepts the slirep of an asynchronous SLIR after asking (s)."
    )

    # --- SMS: the platform's SMPP bind to the SMSC ---------------------------------------------------------
    smsc_host: str = Field(
        "127.0.0.1", description="Address of the SMSC the platform binds to; the demo starts its emulator there."
    )
    smsc_port: int = Field(2775, description="SMPP port of the SMSC the platform binds to.")
    smpp_system_id: str = Field("demo", description="system_id the platform binds with.")
    smpp_password: str = Field("demo", description="Password the platform binds with.")
    smpp_enabled: bool = Field(True, description="Whether the platform binds to the SMSC at start-up.")
    smpp_window: int = Field(100, description="Most submit_sm the platform leaves unanswered on one bind.")
    smpp_validity_s: float = Field(
        172_800.0, description="validity_period of every MT: the SMSC gives up delivering it after this long."
    )
    smpp_receipt_grace_s: float = Field(
        3_600.0, description="An MT with no receipt this long after its validity ends 'expired' (no receipt)."
    )
    default_tps: int = Field(10, description="Throughput (SMS/s) of a sender with no short-code tier (e.g. an OADC).")
    short_code: str = Field("3311", description="The platform's default short code.")

    # --- consent and privacy -------------------------------------------------------------------------------
    privacy_internal_key: str = Field(
        "dev-internal-key", description="Bearer credential /v1/privacy/check expects from its caller (the LES)."
    )
    pseudonym_key: str = Field(
        "dev-pseudonym-key-change-me",
        description="Secret for the keyed hash (HMAC-SHA256) that pseudonymises MSISDNs in events, audit and opt-outs.",
    )
    consent_validity_days: int = Field(365, description="How long a grant lasts unless the request says otherwise.")

    # --- retention -----------------------------------------------------------------------------------------
    retention_positions_s: int = Field(86_400, description="Default retention of raw positions (24 h).")
    retention_presence_s: int = Field(7 * 86_400, description="Default retention of geofence presence state.")
    retention_message_bodies_s: int = Field(30 * 86_400, description="Default retention of SMS bodies.")
    retention_interval_s: float = Field(3600.0, description="How often the server runs the retention job.")

    # --- billing -------------------------------------------------------------------------------------------
    billing_currency: str = Field("EUR", description="Currency of fees and statements (ISO 4217); plans must match.")
    billing_prepaid_validity_days: int = Field(365, description="Days prepaid credit stays valid after a top-up.")
    billing_short_code_fee_minor: int = Field(15_000, description="Monthly rent per short code, cents (first ones).")
    billing_short_code_fee_over_limit_minor: int = Field(
        50_000, description="Monthly rent per short code beyond billing_short_code_fee_limit, in cents."
    )
    billing_short_code_fee_limit: int = Field(20, description="Short codes per provider at the lower monthly rent.")
    billing_throughput_fees_minor: dict[int, int] = Field(
        {20: 80_000, 50: 160_000, 100: 250_000, 150: 300_000},
        description="Monthly fee per throughput option, SMS/s -> cents (JSON); 10 SMS/s is included.",
    )
    billing_oadc_fee_minor: int = Field(15_000, description="Monthly fee of the OADC (alphanumeric sender) option.")
    billing_release_stale_s: float = Field(
        60.0, description="How often the scheduler releases prepaid holds whose action never reported back (s)."
    )
    billing_hold_max_age_s: float = Field(
        7 * 86_400.0,
        description="Age after which a prepaid hold with no outcome is released (a crashed worker's). Longer than "
        "any wait a held MT may have before it is submitted (marketing deferred over a long holiday weekend).",
    )
    billing_close_check_s: float = Field(
        3600.0, description="How often the scheduler closes the last month once it has ended (statements, once)."
    )

    # --- active queries (POIs) -----------------------------------------------------------------------------
    pois_application: str = Field(
        "CITYGUIDE", description="Application answering POI keywords on a short code with no row in poi_short_codes."
    )
    pois_default_k: int = Field(3, description="Places an SMS query returns (REST callers choose k, 1 to 50).")
    pois_max_radius_m: float = Field(5_000.0, description="Farthest place an SMS query names, in metres.")
    pois_h3_res: int = Field(9, description="H3 resolution of the cell stored with each POI (9: ~0.1 km²).")
    pois_memory_index: bool = Field(True, description="Answer nearest-k from the in-memory k-d tree, not PostGIS.")
    pois_index_check_s: float = Field(
        5.0, description="How often the in-memory index asks PostgreSQL whether another process changed the POIs."
    )
    pois_max_upload_rows: int = Field(1_000_000, description="Most POIs one upload may carry (413 beyond).")
    pois_max_upload_bytes: int = Field(268_435_456, description="Largest POI upload body, streamed (413 beyond).")
    pois_import_batch: int = Field(10_000, description="Rows per COPY batch of a POI import.")
    pois_demo_count: int = Field(4_000, description="Demo POIs generated in Brussels for CITYGUIDE by `make setup`.")
    pois_demo_seed: int = Field(7, description="Seed of the deterministic demo POI generator.")
    pois_hor_acc_m: int = Field(
        50, description="Accuracy (m) active queries ask the LES for (50: satellite-assisted); 0 = network default."
    )

    # --- geofences -----------------------------------------------------------------------------------------
    geofence_max_vertices: int = Field(1_000, description="Most vertices a promotion's fence may have.")
    geofence_max_area_km2: float = Field(100.0, description="Largest fence area a provider may register (km²).")
    geofence_min_radius_m: float = Field(10.0, description="Smallest circle fence radius (m).")
    geofence_max_radius_m: float = Field(20_000.0, description="Largest circle fence radius (m).")
    geofence_circle_cell_deg: float = Field(0.01, description="Grid cell side (degrees) of the circle fence table.")
    geofence_polygon_cell_deg: float = Field(0.004, description="Grid cell side (degrees) of the polygon fence table.")
    geofence_max_delta: int = Field(256, description="Fence edits kept in the index's delta before a full rebuild.")
    geofence_hysteresis_max_m: float = Field(
        100.0, description="Cap on the edge margin a report must clear to change presence at once (m)."
    )
    geofence_hysteresis_factor: float = Field(1.0, description="Edge margin = position accuracy x this factor.")
    geofence_confirm_reports: int = Field(
        2, description="Consecutive reports past an edge (within the margin) that also change presence."
    )
    geofence_sms_price_minor: int = Field(
        5, description="What one promotion SMS costs against its money budget (minor units)."
    )
    geofence_stream: str = Field(
        "gf:positions", description="Redis Stream of position reports the geofence workers consume."
    )
    geofence_stream_maxlen: int = Field(1_000_000, description="Approximate cap on the position stream's length.")
    geofence_group: str = Field("geofence", description="Consumer group of the geofence workers on the stream.")
    geofence_batch: int = Field(1_000, description="Stream entries a geofence worker takes per read.")
    geofence_block_ms: int = Field(500, description="How long a worker's stream read waits for entries (ms).")
    geofence_claim_idle_ms: int = Field(
        30_000,
        description="Entries pending this long (their worker presumed dead) are claimed by another (XAUTOCLAIM).",
    )
    geofence_sync_s: float = Field(2.0, description="How often a worker picks up promotion changes (s).")
    geofence_camara_loopback_http: bool = Field(
        False,
        description="Dev mode only (tests, demo): callbacks (CAMARA sinks) may use http:// and loopback addresses."
        " Private, link-local and other non-public addresses stay refused; the spec asks for https.",
    )
    geofence_delivery_per_sink: int = Field(4, description="CloudEvent POSTs in flight at once to one sink host.")
    geofence_poison_tries: int = Field(
        5, description="Failures (other than an outage) after which a stream entry or transition is dead-lettered."
    )
    geofence_delivery_attempts: int = Field(8, description="CloudEvent delivery attempts before a delivery fails.")
    geofence_delivery_backoff_s: float = Field(1.0, description="First CloudEvent retry delay; doubles per attempt.")
    geofence_delivery_timeout_s: float = Field(5.0, description="Timeout of one CloudEvent POST to a sink.")
    geofence_reporting: bool = Field(
        True, description="Whether this process keeps the LES's triggered reporting in line (one process only)."
    )
    geofence_report_interval_s: int = Field(60, description="Interval of the LES's periodic reports for geofencing.")
    geofence_reconcile_s: float = Field(
        30.0, description="How often triggered reporting at the LES is aligned with consent and promotions (s)."
    )
    geofence_bill_positions: bool = Field(
        True, description="Bill each position a geofence worker receives as a passive location event."
    )

    # --- CAMARA device tokens ------------------------------------------------------------------------------
    oauth_jwt_secret: str = Field(
        "dev-camara-jwt-secret-change-me-0123456789",
        description="HS256 secret signing the CAMARA access tokens (JWT); at least 32 bytes in production.",
    )
    oauth_token_ttl_s: int = Field(600, description="Lifetime of a CAMARA access token (s).")
    oauth_request_ttl_s: int = Field(300, description="How long a subscriber has to confirm the SMS code (s).")
    oauth_otp_attempts: int = Field(3, description="Wrong SMS codes allowed before an authorisation request fails.")

    # --- demo (make setup, make demo, scenarios) -----------------------------------------------------------
    demo_subscribers: int = Field(10_000, description="Subscribers loaded by `make setup` from +32470000000.")
    les_first_msisdn: str = Field(
        "+32470000000",
        description="First MSISDN of the demo subscribers (the LES emulator's population starts there too).",
    )
    les_bbox: tuple[float, float, float, float] = Field(
        (4.30, 50.80, 4.42, 50.88),
        description="City box of the demo (POIs; the emulated population): min_lon, min_lat, max_lon, max_lat.",
    )
    smsc_control_port: int = Field(
        2776, description="Port of the SMSC emulator's control API (/sim/...) the demo starts and its scenarios drive."
    )

    @field_validator("clock_at")
    @classmethod
    def _valid_instant(cls, value: str) -> str:
        if value:
            parse_instant(value)
        return value

    @model_validator(mode="after")
    def _derive_urls(self) -> Settings:
        if not self.database_url:
            self.database_url = f"postgresql://lbs:lbs@127.0.0.1:{self.pg_port}/lbs"
        if not self.redis_url:
            self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        if not self.les_url:
            self.les_url = f"http://{self.les_host}:{self.les_port}/mlp"
        if not self.mlp_push_url:
            self.mlp_push_url = f"http://{self.mlp_push_host}:{self.mlp_push_port}/mlp/push"
        return self

    def make_clock(self) -> Clock:
        """The clock these settings ask for (real time unless ``clock_at`` pins it); entry points call this once."""
        return clock_from(self.clock_at, self.clock_frozen)

    @property
    def sqlalchemy_url(self) -> str:
        """The same database for SQLAlchemy/alembic, through the asyncpg driver."""
        scheme, _, rest = self.database_url.partition("://")
        return f"postgresql+asyncpg://{rest}" if scheme in {"postgres", "postgresql"} else self.database_url
