"""Topic ``transactions``: one card or payment transaction."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator

from schemas.common import EventId, Timestamp
from schemas.iso import COUNTRIES, CURRENCIES

Channel = Literal["card_present", "online", "atm", "transfer"]

# The validators below check membership; these schemas tell producers in other languages the same.
CurrencyCode = Annotated[
    str,
    StringConstraints(min_length=3, max_length=3),
    WithJsonSchema({"type": "string", "enum": sorted(CURRENCIES)}),
]
CountryCode = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2),
    WithJsonSchema({"type": "string", "enum": sorted(COUNTRIES)}),
]


class Transaction(BaseModel):
    """A transaction as producers send it. Unknown extra fields are accepted and ignored."""

    # strict: "12.5" or true is not an amount; producers must send the JSON types the schema names.
    model_config = ConfigDict(
        frozen=True, extra="ignore", strict=True, allow_inf_nan=False, title="Transaction"
    )

    event_id: EventId
    account_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    amount: float = Field(ge=0, description="amount in the currency's major unit")
    currency: CurrencyCode = Field(description="ISO 4217 code, three upper-case letters")
    merchant: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    description: Annotated[str, StringConstraints(max_length=2000)]
    timestamp: Timestamp
    country: CountryCode | None = Field(default=None, description="ISO 3166-1 alpha-2")
    channel: Channel | None = None
    # The lengths make "1234\n" fail in every regex dialect, not only where "$" means end of input.
    mcc: Annotated[str, StringConstraints(min_length=4, max_length=4, pattern=r"^[0-9]{4}$")] | None = Field(
        default=None, description="merchant category code, four digits"
    )
    metadata: dict[str, Any] | None = None

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError(f"unknown currency {value!r} (ISO 4217, upper case)")
        return value

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str | None) -> str | None:
        if value is not None and value not in COUNTRIES:
            raise ValueError(f"unknown country {value!r} (ISO 3166-1 alpha-2, upper case)")
        return value
