"""Tables behind ``pipeline.synthetic.transactions``: homes, merchants per spending category, fraud
descriptors, notes.

Amounts are "about USD"; currencies with small units are scaled by ``UNIT_SCALE``. Every category has
a second merchant list and a second set of note templates used by the distribution-shift set only
(``SHIFTED_*`` tables likewise): the shifted set holds out whole templates, never seen in training.
Templates use the slots ``{m}`` (merchant),
``{M}`` (merchant upper case, no spaces), ``{city}``, ``{ref}``, ``{name}``, ``{k}`` and ``{hexref}``.
"""

from __future__ import annotations

from dataclasses import dataclass

HOMES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("US", "USD", ("New York", "Austin", "Chicago", "Seattle")),
    ("GB", "GBP", ("London", "Leeds", "Bristol", "Glasgow")),
    ("DE", "EUR", ("Berlin", "Munich", "Hamburg")),
    ("FR", "EUR", ("Paris", "Lyon", "Nantes")),
    ("NL", "EUR", ("Amsterdam", "Utrecht")),
    ("ES", "EUR", ("Madrid", "Valencia")),
    ("CA", "CAD", ("Toronto", "Montreal")),
    ("AU", "AUD", ("Sydney", "Melbourne")),
    ("IE", "EUR", ("Dublin", "Cork")),
    ("SE", "SEK", ("Stockholm", "Malmo")),
)
HOME_WEIGHTS = (30, 18, 10, 8, 6, 6, 7, 6, 4, 5)
CURRENCY_OF = {country: currency for country, currency, _ in HOMES}
CURRENCY_OF.update({"IT": "EUR", "PT": "EUR", "TH": "THB", "MX": "MXN", "JP": "JPY", "AE": "AED"})
# Typical amounts are written in "about USD"; SEK/THB/JPY/MXN prices are scaled so magnitudes look real.
UNIT_SCALE = {"SEK": 10.0, "THB": 35.0, "JPY": 150.0, "MXN": 17.0, "AED": 3.7}
TRAVEL_COUNTRIES = ("FR", "ES", "IT", "PT", "US", "GB", "TH", "MX", "JP", "AE", "DE", "NL")
TRAVEL_CITIES = {
    "FR": "Nice",
    "ES": "Barcelona",
    "IT": "Rome",
    "PT": "Lisbon",
    "US": "Orlando",
    "GB": "London",
    "TH": "Bangkok",
    "MX": "Cancun",
    "JP": "Tokyo",
    "AE": "Dubai",
    "DE": "Berlin",
    "NL": "Amsterdam",
}
FRAUD_COUNTRIES = ("RU", "NG", "RO", "BR", "ID", "VN", "UA", "PH", "CN", "KZ")


@dataclass(frozen=True, slots=True)
class Category:
    """Where people spend: merchants, MCCs, amount range, channel, note templates (normal and shifted)."""

    merchants: tuple[str, ...]
    shifted_merchants: tuple[str, ...]
    mccs: tuple[str, ...]
    low: float
    high: float
    channels: tuple[str, ...]
    notes: tuple[str, ...]
    shifted_notes: tuple[str, ...]


POS = ("POS PURCHASE {m} {city}", "Card payment to {m}", "{m} {city} CONTACTLESS", "{m}")
WEB = ("Online payment {m}", "{m} order {ref}", "WWW.{M}.COM", "{m} web purchase")
SHIFTED_POS = (
    "CHIP AND PIN {M} {city}",
    "debit card at {m} - {city}",
    "{M} STORE {k}{k} {city}",
    "paid at {m}",
)
SHIFTED_WEB = ("ecom txn {M}", "{m} checkout #{ref}", "{m}.app in-app purchase", "internet order - {m}")
CATEGORIES: dict[str, Category] = {
    "groceries": Category(
        ("Tesco Stores", "Whole Foods Market", "ALDI", "Lidl", "Safeway", "Carrefour", "Kroger", "Rewe"),
        ("Sainsbury's", "Trader Joe's", "Albert Heijn", "Mercadona", "Coles", "Edeka"),
        ("5411",),
        6,
        160,
        ("card_present",),
        (*POS, "weekly shop {m}"),
        (*SHIFTED_POS, "groceries {m} {city}"),
    ),
    "fuel": Category(
        ("Shell", "BP", "Esso", "Chevron", "TotalEnergies"),
        ("Texaco", "Aral", "Circle K", "Repsol"),
        ("5541", "5542"),
        20,
        110,
        ("card_present",),
        ("{m} {city} FUEL", *POS),
        ("{M} PETROL {city}", *SHIFTED_POS),
    ),
    "restaurants": Category(
        ("Pret A Manger", "Starbucks", "Nando's", "Chipotle", "Wagamama", "Le Petit Bistro", "Pizza Express"),
        ("Costa Coffee", "Shake Shack", "Leon", "Dishoom", "Five Guys", "Vapiano"),
        ("5812", "5814"),
        4,
        140,
        ("card_present", "card_present", "online"),
        (*POS, "dinner at {m}"),
        (*SHIFTED_POS, "lunch {m} table {k}"),
    ),
    "pharmacy": Category(
        ("Boots", "CVS Pharmacy", "Walgreens"),
        ("Superdrug", "Rite Aid", "DM Drogerie"),
        ("5912",),
        5,
        80,
        ("card_present",),
        POS,
        SHIFTED_POS,
    ),
    "utilities": Category(
        ("British Gas", "Con Edison", "EDF Energy", "Vattenfall", "Thames Water"),
        ("Octopus Energy", "PG&E", "E.ON", "Iberdrola"),
        ("4900",),
        35,
        240,
        ("transfer",),
        ("Direct debit {m} ref {ref}", "{m} monthly bill", "DD {M}"),
        ("{m} quarterly statement {ref}", "energy bill {M}", "{m} account {ref} payment"),
    ),
    "shopping": Category(
        ("Amazon", "eBay", "Zalando", "IKEA", "Best Buy", "H&M", "Etsy"),
        ("Otto", "Walmart.com", "ASOS", "Target.com", "Decathlon", "Wayfair"),
        ("5311", "5999", "5732", "5651"),
        8,
        650,
        ("online", "online", "card_present"),
        WEB,
        SHIFTED_WEB,
    ),
    "travel": Category(
        ("Marriott", "Hilton", "Ryanair", "Lufthansa", "Hertz", "Airbnb", "Booking.com"),
        ("Accor", "easyJet", "KLM", "Sixt", "Vrbo", "Expedia"),
        ("7011", "4511", "7512"),
        60,
        1600,
        ("online", "card_present"),
        ("{m} {city} booking {ref}", "hotel stay {m}", "flight {ref} {m}", *POS),
        ("{m} reservation {ref} {city}", "trip to {city} via {m}", "{M} e-ticket {ref}", *SHIFTED_POS),
    ),
    "atm": Category(
        ("ATM {city} Central", "Cash machine {city}"),
        ("ATM {city} Station", "Cashpoint {city}"),
        ("6011",),
        20,
        400,
        ("atm",),
        ("ATM WITHDRAWAL {city}", "Cash withdrawal {m}"),
        ("CASH {city} ATM {ref}", "cash out {m}"),
    ),
    "crypto": Category(
        ("Coinbase", "Kraken", "Binance"),
        ("Bitstamp", "Gemini", "Crypto.com"),
        ("6051",),
        40,
        2200,
        ("online", "transfer"),
        ("{m} BTC purchase", "Buy ETH {m}", "{m} deposit {ref}"),
        ("{m} SOL buy", "stablecoin purchase {m}", "{m} wallet funding {ref}"),
    ),
    "gift_cards": Category(
        ("Amazon Gift Cards", "Apple Gift Card", "Google Play"),
        ("Steam Wallet", "iTunes Cards", "Xbox Gift"),
        ("5947", "5999"),
        15,
        120,
        ("online",),
        ("gift card for {name}", "{m} eGift", "birthday gift card"),
        ("{m} voucher for {name}", "e-voucher {M}", "present card {ref}"),
    ),
    "remittance": Category(
        ("Western Union", "Wise", "MoneyGram", "Remitly"),
        ("WorldRemit", "Xoom", "Ria Money Transfer"),
        ("4829",),
        80,
        700,
        ("transfer",),
        ("Transfer to {name} via {m}", "{m} family support", "{m} {ref}"),
        ("{m} payment to {name}", "remit {ref} {M}", "sending money home {m}"),
    ),
}
EVERYDAY = ("groceries", "fuel", "restaurants", "pharmacy", "shopping", "atm")
EVERYDAY_WEIGHTS = (30, 10, 24, 5, 18, 6)
SUBSCRIPTIONS = (
    ("Netflix", 15.49),
    ("Spotify", 10.99),
    ("Disney+", 7.99),
    ("Apple.com/bill", 2.99),
    ("Amazon Prime", 14.99),
    ("YouTube Premium", 13.99),
    ("Audible", 14.95),
    ("NYTimes Digital", 17.0),
)
SHIFTED_SUBSCRIPTIONS = (("Hulu", 17.99), ("Deezer", 11.99), ("Max", 16.99), ("Paramount+", 11.99))
EMPLOYERS = ("ACME LTD", "Globex Corp", "Initech", "Northwind Traders", "City Council", "NHS Trust")
NAMES = ("J. Smith", "M. Garcia", "A. Khan", "L. Muller", "S. Rossi", "K. Nguyen", "P. Novak", "R. Silva")
FRAUD_DESCRIPTORS = (
    "PAYPAL *VERIFY",
    "VRFY*TEMP PAYMENT",
    "*TEMP AUTH",
    "SQ *XJ7 DIGITAL",
    "PP*ACCT VERIFY",
    "GOODS*QZX8 LTD",
    "WEB*HK TRADE 77",
    "DONATE-NOW*ORG",
    "MRCH*0093KQ",
    "SP *TESTSHOP",
)
SHIFTED_FRAUD_DESCRIPTORS = (
    "STRIPE *VALIDATE",
    "TMP*CHARGE 01",
    "*CHK CARD",
    "XQ* ONLINESVC",
    "PMT*VRF 5512",
    "ZZ*GLOBAL BUY",
)
ATO_NOTES = (
    "password reset then transfer to new payee {name}",
    "new device login - payment {ref}",
    "Payee added via new device",
    "urgent transfer requested {ref}",
    "security details changed, payment",
    "new phone registered - online purchase",
)
SHIFTED_ATO_NOTES = (
    "SIM swap reported, payment {ref}",
    "2FA disabled - transfer to {name}",
    "login from unrecognised browser {ref}",
    "email address changed, urgent payment",
)
ATO_MERCHANTS = (
    "Apple Store Online",
    "Best Buy Online",
    "Rolex Boutique",
    "Transfer to new payee",
    "Louis Vuitton",
    "Samsung Shop",
)
CASH_OUT_NOTES = (
    "eGift card bulk purchase x{k}",
    "GIFT CARD x{k}",
    "Transfer to wallet 0x{hexref}",
    "BTC purchase {ref}",
    "WU MONEY TRANSFER {ref}",
    "crypto top-up {ref}",
    "payout to {name} {ref}",
)
SHIFTED_CASH_OUT_NOTES = (
    "prepaid card reload x{k}",
    "voucher codes {ref} x{k}",
    "USDT top up {hexref}",
    "send to {name} instant {ref}",
)
# Notes of card testing and fraud-descriptor payments, and of legitimate rows outside the categories.
CARD_TESTING_NOTES = ("Online payment {m}", "card verification {ref}", "AUTH CHECK {m}", "{m}")
SHIFTED_CARD_TESTING_NOTES = ("tiny charge {M}", "validation {ref} {m}", "$0 check {m}", "donation {m}")
DESCRIPTOR_NOTES = ("Online payment {m}", "{m} {ref}", "purchase {ref}")
SHIFTED_DESCRIPTOR_NOTES = ("web service {M}", "order no {ref} {m}", "digital goods {m}")
RENT_NOTES = ("Rent {ref}", "Monthly rent flat {k}B", "Standing order rent {ref}")
SHIFTED_RENT_NOTES = ("Lease payment {ref}", "apartment {k}B monthly", "housing SO {ref}")
SHIFTED_SALARY_NOTES = ("{m} wages {ref}", "PAY {M} {ref}", "net salary {m}")
SHIFTED_SUBSCRIPTION_NOTES = ("{m} membership renewal", "{M} MONTHLY PLAN", "auto-renew {m}")
SHIFTED_HOLD_NOTES = ("pre-auth {ref}", "deposit hold {m}", "card check - released later")
# Daytime curve for legitimate activity (UTC hours, read as local); fraud often runs at night.
HOUR_WEIGHTS = (1, 0.5, 0.3, 0.2, 0.3, 0.8, 2, 4, 6, 6, 6, 7, 9, 8, 6, 6, 7, 9, 10, 9, 7, 5, 3, 2)
