"""Minting canaries: invented people who look like any other user of the product.

A canary has a plausible name (drawn from a small built-in list of names from many
cultures, first and last name from the same one), a unique address at the canary
domain, a user id, org id and device id shaped like real ones (UUIDs), and a beacon
token. The token is derived from the canary's random id with the canary key (HMAC,
160 bits), so it can be re-planted without ever being stored: the database keeps
only its SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from random import Random

from seawall.core.keys import KeyRing

TOKEN_BYTES = 20  # 160 bits: unguessable, and short enough for a profile field

# (first names, last names) per culture; a canary never mixes two cultures.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "igbo": (("Amara", "Chidi", "Ngozi", "Obinna"), ("Okafor", "Eze", "Nwosu", "Okeke")),
    "yoruba": (("Adebayo", "Folake", "Tunde", "Yewande"), ("Adeyemi", "Ogunleye", "Balogun")),
    "japanese": (("Haruto", "Yui", "Sota", "Aoi"), ("Sato", "Takahashi", "Nakamura", "Ito")),
    "tamil": (("Priya", "Karthik", "Divya", "Arun"), ("Raghavan", "Subramanian", "Krishnan")),
    "mexican": (("Sofía", "Diego", "Valeria", "Mateo"), ("Hernández", "García", "Ramírez")),
    "polish": (("Zofia", "Jakub", "Agnieszka", "Piotr"), ("Kowalczyk", "Nowak", "Wiśniewski")),
    "arabic": (("Layla", "Omar", "Yasmin", "Karim"), ("Haddad", "Nasser", "Khalil", "Mansour")),
    "vietnamese": (("Linh", "Minh", "Thao", "Quang"), ("Nguyen", "Tran", "Pham", "Le")),
    "swedish": (("Astrid", "Erik", "Ingrid", "Johan"), ("Lindqvist", "Andersson", "Berg")),
    "brazilian": (("Beatriz", "João", "Larissa", "Rafael"), ("Souza", "Oliveira", "Costa")),
    "korean": (("Jiwoo", "Minjun", "Seoyeon", "Hyunwoo"), ("Kim", "Park", "Choi", "Jung")),
    "akan": (("Kwame", "Ama", "Kofi", "Abena"), ("Mensah", "Asante", "Owusu", "Boateng")),
    "turkish": (("Elif", "Emre", "Zeynep", "Burak"), ("Yılmaz", "Demir", "Şahin", "Çelik")),
    "irish": (("Aoife", "Cian", "Niamh", "Oisín"), ("Murphy", "O'Brien", "Byrne", "Walsh")),
    "chinese": (("Wei", "Jing", "Hao", "Xiu"), ("Wang", "Li", "Zhang", "Chen", "Liu")),
    "amharic": (("Selam", "Dawit", "Hana", "Yonas"), ("Tesfaye", "Bekele", "Girma", "Alemu")),
    "persian": (("Shirin", "Darius", "Parisa", "Kaveh"), ("Hosseini", "Rahimi", "Karimi")),
    "filipino": (("Maricel", "Jomar", "Liza", "Paolo"), ("Santos", "Reyes", "Bautista")),
    "greek": (("Eleni", "Nikos", "Katerina", "Giorgos"), ("Papadopoulos", "Georgiou")),
    "kikuyu": (("Wanjiru", "Kamau", "Njeri", "Mwangi"), ("Kariuki", "Njoroge", "Wambui")),
    "german": (("Lena", "Jonas", "Miriam", "Felix"), ("Schneider", "Becker", "Hoffmann")),
    "quechua": (("Killa", "Inti", "Sisa", "Amaru"), ("Mamani", "Quispe", "Huamán", "Condori")),
}


@dataclass(frozen=True, slots=True)
class Identity:
    """A decoy person before it is stored; ``token`` lives only in memory."""

    id: str
    vendor: str
    first_name: str
    last_name: str
    email: str
    user_id: str
    org_id: str
    device_id: str
    token: str
    created_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def token_hash(self) -> str:
        return hash_token(self.token)


def canary_key(keys: KeyRing) -> bytes:
    """The key behind beacon tokens, kept beside the other keys (``canary.key``)."""
    return keys.canary_key()


def derive_token(key: bytes, canary_id: str) -> str:
    """The beacon token of a canary: base32 of an HMAC, lower case, no padding."""
    digest = hmac.new(key, canary_id.encode("ascii"), hashlib.sha256).digest()[:TOKEN_BYTES]
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def hash_token(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def ascii_fold(text: str) -> str:
    """``Wiśniewski`` -> ``wisniewski``, ``O'Brien`` -> ``obrien``: a mailbox-safe name."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ı", "i"))
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def mint(vendor: str, domain: str, key: bytes, rng: Random | None = None) -> Identity:
    """One new canary for ``vendor`` with an address at ``domain``."""
    rng = rng or Random(secrets.randbits(64))  # noqa: S311 - names need no secrecy
    culture = rng.choice(sorted(NAMES))
    firsts, lasts = NAMES[culture]
    first, last = rng.choice(firsts), rng.choice(lasts)
    canary_id = "cn_" + secrets.token_hex(10)
    # Four digits make the address unique among canaries, while still looking like a
    # person's choice; the random id behind the token is what keeps a canary secret.
    local = f"{ascii_fold(first)}.{ascii_fold(last)}{secrets.randbelow(9000) + 1000}"
    return Identity(
        id=canary_id,
        vendor=vendor,
        first_name=first,
        last_name=last,
        email=f"{local}@{domain.lower()}",
        user_id=str(uuid.uuid4()),
        org_id=str(uuid.uuid4()),
        device_id=str(uuid.uuid4()),
        token=derive_token(key, canary_id),
    )


def beacon_url(base: str, token: str) -> str:
    """The address a canary's link or avatar points at: ``<beacon_base>/c/<token>``."""
    return f"{base.rstrip('/')}/c/{token}"
