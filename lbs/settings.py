"""One settings object for every deployable: each URL, port, credential and tunable lives here.

Values come from environment variables prefixed ``LBS_`` (``DATABASE_URL`` and ``REDIS_URL`` are also read
unprefixed, as most tooling sets them). Nothing here does I/O: reading the environment happens when a
``Settings()`` is built, never at import.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every external address, credential and tunable of the platform and its emulators."""

    model_config = SettingsConfigDict(env_prefix="LBS_", extra="ignore")

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

    # --- platform API --------------------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Bind address of the platform API.")
    api_port: int = Field(8080, description="Port of the platform API.")
    max_body_bytes: int = Field(1_048_576, description="Largest request body the API accepts (413 beyond).")

    # --- LES emulator and the platform's MLP client ---------------------------------------------------------
    les_host: str = Field("127.0.0.1", description="Bind address of the LES emulator.")
    les_port: int = Field(9210, description="Port of the LES emulator (MLP over HTTP and /sim control).")
    les_url: str = Field("", description="MLP endpoint the platform calls; default http://{les_host}:{les_port}/mlp.")
    mlp_client_id: str = Field("demo", description="MLP client id the platform presents to the LES.")
    mlp_client_pwd: str = Field("demo", description="MLP client password the platform presents to the LES.")
    mlp_timeout_s: float = Field(10.0, description="Total timeout of one MLP request.")
    les_seed: int = Field(42, description="Seed of the LES emulator's subscriber population.")
    les_population: int = Field(10_000, description="Subscribers in the LES emulator's population.")
    les_first_msisdn: str = Field("+32470000000", description="First MSISDN of the emulated population.")
    les_bbox: tuple[float, float, float, float] = Field(
        (4.30, 50.80, 4.42, 50.88), description="City box the population lives in: min_lon, min_lat, max_lon, max_lat."
    )

    # --- SMSC emulator and the platform's SMPP bind ---------------------------------------------------------
    smsc_host: str = Field("127.0.0.1", description="Address of the SMSC (emulator bind address and ESME target).")
    smsc_port: int = Field(2775, description="SMPP port of the SMSC.")
    smsc_control_port: int = Field(2776, description="Port of the SMSC emulator's control API (/sim/...).")
    smsc_accounts: dict[str, str] = Field(
        {"demo": "demo"}, description="SMSC emulator accounts: system_id -> password (JSON in the environment)."
    )
    smsc_routes: dict[str, str] = Field(
        {"3311": "demo"}, description="SMSC emulator short codes: short code -> owning system_id (JSON)."
    )
    smsc_dlr_delay_s: float = Field(0.05, description="Delay before the SMSC emulator sends a delivery receipt.")
    smpp_system_id: str = Field("demo", description="system_id the platform binds with.")
    smpp_password: str = Field("demo", description="Password the platform binds with.")
    smpp_enabled: bool = Field(True, description="Whether the platform binds to the SMSC at start-up.")
    short_code: str = Field("3311", description="The platform's default short code.")

    # --- demo ----------------------------------------------------------------------------------------------
    demo_subscribers: int = Field(10_000, description="Subscribers loaded by `make setup` from +32470000000.")

    @model_validator(mode="after")
    def _derive_urls(self) -> Settings:
        if not self.database_url:
            self.database_url = f"postgresql://lbs:lbs@127.0.0.1:{self.pg_port}/lbs"
        if not self.redis_url:
            self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        if not self.les_url:
            self.les_url = f"http://{self.les_host}:{self.les_port}/mlp"
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The same database for SQLAlchemy/alembic, through the asyncpg driver."""
        scheme, _, rest = self.database_url.partition("://")
        return f"postgresql+asyncpg://{rest}" if scheme in {"postgres", "postgresql"} else self.database_url
