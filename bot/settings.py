"""Settings (SPEC §5): environment variables ``CARRYBOT_...`` (nested with ``__``), a ``.env`` file and Docker
secrets. Every model is frozen and rejects unknown keys; invalid values fail at start-up naming the field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.section import Section
from bot.strategies.borrow import BorrowCurve
from bot.strategies.settings import StrategySettings

VENUES = ("binance", "bybit", "okx")
BASES = ("BTC", "ETH")
_DOCKER_SECRETS = Path("/run/secrets")


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class ReplaySettings(Section):
    """Which slice of the replay data to play, and how fast."""

    file: Path | None = Field(None, description="replay CSV(.gz) in the bundled format; None = bundled data")
    venues: tuple[str, ...] = VENUES
    bases: tuple[str, ...] = BASES
    start: date | None = None
    end: date | None = None
    pace_secs: float = Field(60.0, ge=0.0, description="wall seconds the replay takes in `run`; 0 = flat out")
    half_spread_bps_spot: float = Field(1.0, ge=0.0, le=100.0)
    half_spread_bps_perp: float = Field(0.5, ge=0.0, le=100.0)
    spread_range_coef: float = Field(0.01, ge=0.0, le=1.0, description="extra half-spread per unit of bar range")

    @field_validator("venues")
    @classmethod
    def _known_venues(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        v = tuple(dict.fromkeys(x.lower() for x in v))
        unknown = [x for x in v if x not in VENUES]
        if not v or unknown:
            raise ValueError(f"must name one or more of {', '.join(VENUES)}; unknown: {unknown}")
        return v

    @field_validator("bases")
    @classmethod
    def _bases(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        v = tuple(dict.fromkeys(x.upper() for x in v))
        if not v or not all(x.isalnum() for x in v):
            raise ValueError("must name one or more base assets, e.g. BTC")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> ReplaySettings:
        if self.start and self.end and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


AccountKind = Literal["split", "unified"]


def _venue_accounts() -> dict[str, AccountKind]:
    """As the venues keep a regular account: Binance spot + USDⓈ-M wallets; Bybit UTA and OKX unified."""
    return {"binance": "split", "bybit": "unified", "okx": "unified"}


class PaperSettings(Section):
    """The simulated venue (SPEC §4)."""

    initial_balance_usd: Decimal = Field(
        Decimal(100_000), gt=0, le=Decimal(10**12), description="USDT per venue account"
    )
    latency_ms: float = Field(50.0, ge=0.0, le=60_000.0)
    slippage_bps: float = Field(0.5, ge=0.0, le=100.0)
    impact_bps_per_million_usd: float = Field(2.0, ge=0.0, le=1_000.0)
    partial_fill_fraction: float = Field(1.0, gt=0.0, le=1.0, description="share of a market order filled per tick")
    accounts: dict[str, AccountKind] = Field(
        default_factory=_venue_accounts,
        description="per venue: split (spot + derivatives wallet) or unified (spot coins are collateral)",
    )
    margin_mode: Literal["cross", "isolated"] = Field("cross", description="of every perp position ...")
    margin_modes: dict[str, Literal["cross", "isolated"]] = Field(
        default_factory=dict, description="... unless named here (instrument id, e.g. binance:BTC/USDT:USDT, or venue)"
    )
    collateral_haircut: float = Field(
        0.95, ge=0.0, le=1.0, description="share of a spot coin's value a unified account counts as collateral"
    )
    derivatives_share: float = Field(
        0.5, ge=0.0, le=1.0, description="split accounts: share of the initial balance in the derivatives wallet"
    )

    @field_validator("accounts")
    @classmethod
    def _account_venues(cls, v: dict[str, AccountKind]) -> dict[str, AccountKind]:
        unknown = [k for k in v if k not in VENUES]
        if unknown:
            raise ValueError(f"unknown venue(s) {unknown}: use {', '.join(VENUES)}")
        return v


class DbSettings(Section):
    """Where the store lives: a SQLite file under ``data_dir`` unless a URL (PostgreSQL) is given."""

    url: SecretStr | None = Field(None, description="e.g. postgresql+asyncpg://user:password@host/db (a secret)")
    commit_lag_secs: float = Field(
        0.2,
        ge=0,
        le=5,
        description="ticks closing less than this after the last commit "
        "(a replay at full speed) are committed together, at most this much later; "
        "0 commits every tick on its own",
    )

    @field_validator("url")
    @classmethod
    def _async_url(cls, v: SecretStr | None) -> SecretStr | None:
        """A URL the store can use: parsed as SQLAlchemy does, with one of the two async drivers (the message never
        repeats the URL, which carries the password)."""
        if v is None:
            return v
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v.get_secret_value())
            url.port  # noqa: B018 - a non-numeric port fails here
        except (ArgumentError, ValueError):
            raise ValueError("not a database URL (e.g. postgresql+asyncpg://user:password@host:5432/db)") from None
        if url.drivername not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
            raise ValueError(
                f"driver {url.drivername!r} is not supported: use postgresql+asyncpg:// or sqlite+aiosqlite:///path"
            )
        return v


class TelemetrySettings(Section):
    """The operations endpoint: /metrics, /healthz, /readyz."""

    enabled: bool = True
    host: str = Field("127.0.0.1", description="0.0.0.0 in a container")
    port: int = Field(9108, ge=0, le=65535, description="0 = any free port")
    max_tick_age_secs: float = Field(120.0, gt=0, description="/readyz fails when no tick arrived for this long")


class MqttSettings(Section):
    """Events out and signed operator commands in (off unless enabled)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = Field(
        None,
        description="with tls: trust this CA (the stack's deploy/secrets/mqtt-ca.crt) rather than the system store",
    )
    command_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key shared with operators (>= 16 bytes)")
    firm_command_secret: SecretStr | None = Field(
        None, description="the key of commands addressed to every instance (carrybot/firm/cmd); None = command_secret"
    )
    max_command_age_secs: float = Field(30.0, gt=0, le=3600)
    heartbeat_secs: float = Field(5.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _secret(self) -> MqttSettings:
        if self.enabled and (self.command_secret is None or len(self.command_secret.get_secret_value()) < 16):
            raise ValueError("command_secret of at least 16 characters is required when MQTT is enabled")
        if self.firm_command_secret is not None and len(self.firm_command_secret.get_secret_value()) < 16:
            raise ValueError("firm_command_secret must have at least 16 characters")
        return self


class FirmSettings(Section):
    """The firm-wide risk budget (rules: ``firm``): every instance of the firm shares it through PostgreSQL."""

    enabled: bool = False
    name: str = Field("default", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="the budget's name in the store")
    url: SecretStr | None = Field(
        None, description="the firm's PostgreSQL (postgresql+asyncpg://...; a secret); None = the store's db.url"
    )
    sync_secs: float = Field(
        1.0, gt=0, le=60, description="how often the instance reports its exposure and renews its lease"
    )
    timeout_secs: float = Field(2.0, gt=0, le=60, description="a firm call slower than this counts as unreachable")
    retry_secs: float = Field(
        2.0, ge=0, le=300, description="after a failure, entries are refused without asking for this long"
    )

    @field_validator("url")
    @classmethod
    def _pg_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("postgresql+asyncpg://"):
            raise ValueError("the firm budget lives in PostgreSQL: postgresql+asyncpg://user:password@host:5432/db")
        return v


class ExecutionSettings(Section):
    live_poll_secs: float = Field(
        5.0, ge=0.1, le=300.0, description="live runs on REST polling (--feed live-poll): seconds between polls"
    )
    live_funding_poll_secs: float = Field(
        60.0, ge=0.1, le=3600.0, description="live runs: seconds between reads of the venues' funding records"
    )
    cancel_on_shutdown: bool = Field(True, description="cancel working orders on SIGTERM/SIGINT (else keep them)")
    entry_ttl_secs: float = Field(
        9 * 3600.0,
        gt=0,
        le=7 * 86_400,
        description="working entry orders are cancelled after this (one 8h bar + 1h in replay)",
    )


class BorrowSettings(Section):
    """S4: a spot borrow source (short-spot legs). Disabled: reverse carry is not taken."""

    enabled: bool = False
    curve: BorrowCurve = BorrowCurve()
    margin_pct: Decimal = Field(Decimal("0.5"), gt=0, le=1, description="cash held against borrowed spot")


class FuturesSettings(Section):
    """The synthetic dated-futures generator (S3 on bundled data): real expiries, mean-reverting basis."""

    seed: int = 7
    mean_basis_apr: float = Field(0.10, ge=-1.0, le=2.0)
    basis_vol_apr: float = Field(0.08, ge=0.0, le=5.0, description="volatility of the annualized basis")
    reversion_per_year: float = Field(12.0, gt=0.0, le=1000.0)
    listed_quarters: int = Field(2, ge=1, le=4)


class ApiCredentials(Section):
    api_key: SecretStr = SecretStr("")
    secret: SecretStr = SecretStr("")
    password: SecretStr | None = None
    sandbox: bool = Field(False, description="trade the venue's testnet (ccxt set_sandbox_mode); refused where none")
    mainnet: bool = Field(
        False,
        description="confirm that live mode trades real money on this venue's real account (required for live "
        "orders unless sandbox or api_url is set)",
    )
    api_url: str = Field(
        "",
        pattern=r"^(https?://[A-Za-z0-9._:\[\]-]+)?$",
        description="send this venue's REST calls to {api_url}/{venue host}/{path} instead: the venue emulator "
        "(python -m tests.emulator) or a recording proxy; '' = the venue itself",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CARRYBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        secrets_dir=_DOCKER_SECRETS if _DOCKER_SECRETS.is_dir() else None,
        secrets_nested_delimiter="__",
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
    )

    bot_id: str = Field("carrybot", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    mode: Literal["paper", "live", "shadow"] = Field(
        "paper", description="paper: simulated fills; live: real orders; shadow: real account read, nothing sent"
    )
    feed: Literal["replay", "live", "live-poll"] = Field(
        "replay",
        description="what `carrybot run` trades on when --feed is not given: the bundled replay, the venues' live "
        "public data (websocket streams, REST where a venue streams nothing), or live data by REST polling only",
    )
    rules_file: Path | None = Field(None, description="governor rules YAML; None = rules/default.yaml")
    data_dir: Path = Path("var")
    log: LogSettings = LogSettings()
    replay: ReplaySettings = ReplaySettings()
    paper: PaperSettings = PaperSettings()
    db: DbSettings = DbSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    mqtt: MqttSettings = MqttSettings()
    execution: ExecutionSettings = ExecutionSettings()
    firm: FirmSettings = FirmSettings()
    strategy: StrategySettings = StrategySettings()
    borrow: BorrowSettings = BorrowSettings()
    futures: FuturesSettings = FuturesSettings()
    exchanges: dict[str, ApiCredentials] = {}

    @field_validator("bot_id")
    @classmethod
    def _not_firm(cls, v: str) -> str:
        if v == "firm":
            raise ValueError("'firm' is reserved: carrybot/firm/cmd is the topic of firm-wide commands")
        return v

    @model_validator(mode="after")
    def _firm_store(self) -> Settings:
        if self.firm.enabled and self.firm.url is None:
            url = self.db.url.get_secret_value() if self.db.url is not None else ""
            if not url.startswith("postgresql+asyncpg://"):
                raise ValueError(
                    "firm.enabled needs PostgreSQL: set firm.url (CARRYBOT_FIRM__URL) or a PostgreSQL db.url"
                )
        return self

    def firm_url(self) -> str | None:
        """The firm budget's database when enabled (its own URL, else the store's)."""
        if not self.firm.enabled:
            return None
        chosen = self.firm.url or self.db.url
        return chosen.get_secret_value() if chosen is not None else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Docker secrets hold nested settings too, one file a setting named as its variable in lower case:
        ``/run/secrets/carrybot_db__url``, ``carrybot_mqtt__password``, ``carrybot_exchanges__binance__secret``
        (pydantic-settings' plain secrets source reads top-level fields only: these were silently ignored)."""
        return init_settings, env_settings, dotenv_settings, NestedSecretsSettingsSource(file_secret_settings)


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as JSON-ready data with every secret masked."""
    return settings.model_dump(mode="json")  # SecretStr dumps as '**********'
