"""Data categories as phrases a reader understands, per locale.

A notice says what was exposed *about this reader* from the categories in the scope,
never from values: "your email address and name, your approximate location (city)".
Lookup is by the longest matching category prefix, so ``user.contact.address.city``
finds its own phrase and an uncatalogued ``user.contact.fax_number`` falls back to
``user.contact``. Phrases are kept in a fixed order (identity first) and deduplicated.
"""

from __future__ import annotations

from collections.abc import Iterable

# (category prefix, English, French), in the order notices list them.
_TABLE: tuple[tuple[str, str, str], ...] = (
    ("user.contact.email", "your email address", "votre adresse e-mail"),
    ("user.name", "your name", "votre nom"),
    ("user.contact.phone_number", "your phone number", "votre numéro de téléphone"),
    ("user.contact.address.street", "your postal address", "votre adresse postale"),
    ("user.contact.address.mailing_address", "your postal address", "votre adresse postale"),
    ("user.contact.address.city", "your city", "votre ville"),
    ("user.contact.address.postal_code", "your postal code", "votre code postal"),
    ("user.contact.address.state", "your region or state", "votre région"),
    ("user.contact.address.country", "your country", "votre pays"),
    ("user.contact.address", "your postal address", "votre adresse postale"),
    ("user.contact.social_url", "your social media profile", "votre profil de réseau social"),
    ("user.contact", "your contact details", "vos coordonnées"),
    ("user.account.username", "your username", "votre nom d'utilisateur"),
    ("user.account", "your account details", "les informations de votre compte"),
    (
        "user.authorization.password",
        "a password or credential",
        "un mot de passe ou un identifiant de connexion",
    ),
    ("user.authorization", "a password or credential", "un mot de passe ou un identifiant"),
    (
        "user.government_id",
        "a government identity number",
        "un numéro d'identité officiel",
    ),
    ("user.financial", "financial account details", "des coordonnées financières"),
    ("user.payment", "payment details", "des informations de paiement"),
    ("user.health", "health information", "des informations de santé"),
    ("user.demographic.date_of_birth", "your date of birth", "votre date de naissance"),
    ("user.demographic.gender", "your gender", "votre genre"),
    ("user.demographic.age_range", "your age range", "votre tranche d'âge"),
    ("user.demographic.language", "your language", "votre langue"),
    ("user.demographic", "demographic details", "des données démographiques"),
    ("user.location.precise", "your precise location", "votre position précise"),
    (
        "user.location.coarse",
        "your approximate location (city)",
        "votre localisation approximative (ville)",
    ),
    (
        "user.location.imprecise",
        "your approximate location (city)",
        "votre localisation approximative (ville)",
    ),
    ("user.location", "your location", "votre localisation"),
    ("user.device.ip_address", "your IP address", "votre adresse IP"),
    (
        "user.device.device_id",
        "an identifier of your device",
        "un identifiant de votre appareil",
    ),
    ("user.device.cookie_id", "a cookie identifier", "un identifiant de cookie"),
    ("user.device.cookie", "a cookie identifier", "un identifiant de cookie"),
    ("user.device", "your browser and OS", "votre navigateur et votre système"),
    (
        "user.professional_information",
        "your employer or job title",
        "votre employeur ou votre poste",
    ),
    (
        "user.behavior.purchase_history",
        "your purchase history",
        "votre historique d'achats",
    ),
    (
        "user.behavior.search_history",
        "your searches on our service",
        "vos recherches sur notre service",
    ),
    (
        "user.behavior.browsing_history",
        "the pages you visited on our service",
        "les pages que vous avez consultées sur notre service",
    ),
    ("user.behavior", "how you used our service", "votre utilisation de notre service"),
    ("user.unique_id", "your account identifier", "l'identifiant de votre compte"),
    ("user.content", "content you provided", "des contenus que vous avez fournis"),
    ("user.privacy_preferences", "your privacy settings", "vos préférences de confidentialité"),
    ("user", "other information about you", "d'autres informations vous concernant"),
)
_COLUMN = {"en": 1, "fr": 2}
_AND = {"en": "and", "fr": "et"}
_ORDER = {prefix: i for i, (prefix, *_rest) in enumerate(_TABLE)}
_BY_PREFIX = {row[0]: row for row in _TABLE}
LOCALES: tuple[str, ...] = tuple(_COLUMN)


def _entry(category: str) -> tuple[str, str, str]:
    parts = category.split(".")
    for n in range(len(parts), 0, -1):
        found = _BY_PREFIX.get(".".join(parts[:n]))
        if found is not None:
            return found
    return _BY_PREFIX["user"]


def phrases(categories: Iterable[str], locale: str) -> list[str]:
    """The distinct phrases for these categories, in the table's order."""
    column = _COLUMN.get(locale, 1)
    entries = sorted({_entry(c) for c in categories}, key=lambda e: _ORDER[e[0]])
    seen: dict[str, None] = {}
    for entry in entries:
        seen.setdefault(entry[column], None)
    return list(seen)


def join(items: list[str], locale: str) -> str:
    """``a, b and c`` in the locale's words."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {_AND.get(locale, 'and')} {items[-1]}"


def sentence(categories: Iterable[str], locale: str) -> str:
    """The exposed data as one phrase: "your email address, your name and ..."."""
    return join(phrases(categories, locale), locale)
