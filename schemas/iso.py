"""ISO 4217 currency and ISO 3166-1 country codes, from the pycountry package."""

from __future__ import annotations

import pycountry

CURRENCIES: frozenset[str] = frozenset(c.alpha_3 for c in pycountry.currencies)
COUNTRIES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)
