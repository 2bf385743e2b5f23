"""The emulators' own settings: the LES (MLP) and the SMSC (SMPP), apart from the platform's ``lbs.settings``.

The emulators stand for the operator's network, so they read their own configuration. The environment variables
are the platform's names (prefix ``LBS_``: ``LBS_LES_PORT``, ``LBS_SMSC_PORT``...), so one environment configures
both sides consistently; a setting both sides need (an address, a port, the internal privacy key) is declared on
each side and each reads its own. Nothing here does I/O: the environment is read when a settings object is built.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class _EmulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LBS_", extra="ignore", populate_by_name=True)

    dev_mode: bool = Field(
        False,
        description="Development mode (LBS_DEV_MODE=1): the only mode in which an emulator starts with the default "
        "logins.",
    )


class LesSettings(_EmulatorSettings):
    """The LES emulator: where it listens, whom it serves, whom it asks about privacy, and how it behaves."""

    # --- address ------------------------------------------------------------------------------------------------
    les_host: str = Field("127.0.0.1", description="Bind address of the LES emulator.")
    les_port: int = Field(9210, description="Port of the LES emulator (MLP over HTTP and /sim control).")
    les_max_body_bytes: int = Field(65_536, description="Largest MLP request the LES emulator parses.")
    les_max_xml_depth: int = Field(32, description="Deepest element nesting the LES emulator's MLP parser accepts.")
    les_max_msids: int = Field(1_000_000, description="Most subscribers one LES request may name (104 beyond).")
    les_coord_format: str = Field("DMS", description="How the LES writes coordinates: DMS (spec examples) or DECIMAL.")

    # --- MLP clients --------------------------------------------------------------------------------------------
    les_clients: dict[str, str] = Field(
        {"demo": "demo", "lbs-self": "dev-self-location-pwd"},
        description="MLP clients the LES emulator accepts: client id -> password (JSON).",
    )
    les_self_location_clients: list[str] = Field(
        ["lbs-self"],
        description="LES emulator clients whose requestor = target claim skips the privacy check (self-location).",
    )

    # --- subscriber population ----------------------------------------------------------------------------------
    les_seed: int = Field(42, description="Seed of the LES emulator's subscriber population.")
    les_population: int = Field(10_000, description="Subscribers in the LES emulator's population.")
    les_first_msisdn: str = Field("+32470000000", description="First MSISDN of the emulated population.")
    les_bbox: tuple[float, float, float, float] = Field(
        (4.30, 50.80, 4.42, 50.88), description="City box the population lives in: min_lon, min_lat, max_lon, max_lat."
    )
    les_absent_share: float = Field(0.03, description="Share of the emulated population absent (handset off).")
    les_coarse_h3_res: int = Field(7, description="H3 resolution of coarse positions (7: ~1.4 km cell edge).")

    # --- behaviour ----------------------------------------------------------------------------------------------
    les_latency_scale: float = Field(
        0.1, description="Multiplier on nominal positioning latencies (cell 0.2 s, E-CID 0.5 s, A-GNSS 3 s); 0 = none."
    )
    les_slow_delay_s: float = Field(3.0, description="Extra delay of the LES emulator's 'slow' failure mode.")
    les_received_max: int = Field(1_000, description="Requests kept in the LES emulator's /sim/received log.")

    # --- pushed reports -----------------------------------------------------------------------------------------
    les_push_allow_hosts: list[str] = Field(
        ["127.0.0.1", "::1", "localhost"],
        description="Hosts the LES emulator may push reports to (pushaddr); any other host is refused.",
    )
    les_tlrep_batch: int = Field(500, description="Positions per pushed tlrep document.")
    les_push_timeout_s: float = Field(5.0, description="Timeout of one report push from the LES emulator.")

    # --- privacy check ------------------------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Address of the platform API, the default host of les_privacy_url.")
    api_port: int = Field(8080, description="Port of the platform API, the default port of les_privacy_url.")
    les_privacy_url: str = Field(
        "",
        description="Platform privacy check the LES asks before disclosure; default http://{api_host}:{api_port}"
        "/v1/privacy/check.",
    )
    les_privacy_timeout_s: float = Field(2.0, description="Timeout of one privacy check from the LES.")
    les_privacy_cache_s: float = Field(
        0.0,
        description="How long the LES reuses a privacy decision from the platform (0: ask every time, so a "
        "revocation takes effect before the next disclosure; a cache delays it by up to this long).",
    )
    privacy_internal_key: str = Field(
        "dev-internal-key", description="Bearer credential the LES presents to the platform's /v1/privacy/check."
    )
    privacy_test_grants: list[tuple[str, str, str]] = Field(
        [],
        description="The standalone LES's local privacy table: [msisdn, application, exact|coarse] (JSON).",
    )

    @model_validator(mode="after")
    def _derive_privacy_url(self) -> LesSettings:
        if not self.les_privacy_url:
            self.les_privacy_url = f"http://{self.api_host}:{self.api_port}/v1/privacy/check"
        return self


class SmscSettings(_EmulatorSettings):
    """The SMSC emulator: where it listens, which accounts and short codes it knows, and how it behaves."""

    # --- address ------------------------------------------------------------------------------------------------
    smsc_host: str = Field("127.0.0.1", description="Bind address of the SMSC emulator (SMPP and control API).")
    smsc_port: int = Field(2775, description="SMPP port of the SMSC emulator.")
    smsc_control_port: int = Field(2776, description="Port of the SMSC emulator's control API (/sim/...).")
    smsc_system_id: str = Field("LBS-SMSC", description="system_id the SMSC emulator returns in bind responses.")

    # --- accounts and routes ------------------------------------------------------------------------------------
    smsc_accounts: dict[str, str] = Field(
        {"demo": "demo"}, description="SMSC emulator accounts: system_id -> password (JSON in the environment)."
    )
    smsc_routes: dict[str, str] = Field(
        {"3311": "demo"}, description="SMSC emulator short codes: short code -> owning system_id (JSON)."
    )
    smsc_account_tps: dict[str, float] = Field(
        {}, description="SMSC emulator submit_sm/s per account (system_id -> rate, JSON); none: unlimited."
    )

    # --- binds and windows --------------------------------------------------------------------------------------
    smsc_window: int = Field(10, description="Unanswered deliver_sm the SMSC emulator allows per bind (its window).")
    smsc_max_outstanding: int = Field(
        0, description="Unanswered requests the SMSC emulator takes per bind, ESME_RMSGQFUL beyond; 0: no limit."
    )
    smsc_response_timeout_s: float = Field(
        10.0, description="How long the SMSC emulator waits for deliver_sm_resp before it queues the PDU again."
    )
    smsc_retry_s: float = Field(1.0, description="Delay before the SMSC emulator retries a temporarily refused PDU.")
    smsc_enquire_link_s: float = Field(
        0.0, description="Silence after which the SMSC emulator sends enquire_link (no answer: bind closed); 0: never."
    )

    # --- delivery and receipts ----------------------------------------------------------------------------------
    smsc_dlr_delay_s: float = Field(0.05, description="Delay before the SMSC emulator sends a delivery receipt.")
    smsc_dlr_seconds: bool = Field(
        False, description="Receipt dates as YYMMDDhhmmss (12 digits) instead of YYMMDDhhmm; aiosmpplib 0.7.4 breaks."
    )
    smsc_validity_s: float = Field(
        86_400.0, description="How long the SMSC emulator holds an MT for a switched-off handset (no validity_period)."
    )
    smsc_inbox_size: int = Field(1_000, description="Messages a simulated handset keeps; the oldest go first.")
    smsc_seed: int = Field(5, description="Seed of the SMSC emulator's random outcomes (dlr_fail_ratio).")

    # --- records ------------------------------------------------------------------------------------------------
    smsc_pdu_log_size: int = Field(100_000, description="Received PDUs the SMSC emulator keeps for GET /sim/pdus.")
    smsc_store_path: str = Field(
        "", description="File where a stopping SMSC emulator keeps what it still owes (MTs, receipts, MOs); '': none."
    )
