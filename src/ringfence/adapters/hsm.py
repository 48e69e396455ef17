"""Signers whose keys live in a hardware security module, reached through PKCS#11.

Two signers share one logged-in session per token:

- ``HsmJournalSigner`` implements the ``Signer`` port (service/ports.py) with an Ed25519 key
  made on the token (CKM_EC_EDWARDS_KEY_PAIR_GEN, signed with CKM_EDDSA). Its signatures are
  plain RFC 8032 Ed25519, so ``audit verify`` checks them exactly as it checks a key file's.
- ``HsmChainSigner`` (adapters/hsm_chain.py) holds a secp256k1 key for chain transactions
  and signs 32-byte digests with CKM_ECDSA, returning low-S signatures (BIP 62, EIP-2), as
  (r, s), DER or with the recovery id an Ethereum transaction needs.

Both private keys are made on the token sensitive and non-extractable: they never leave it,
and nothing here can read them. The adapter only signs; what may be signed is decided by the
service that calls it. It never takes the PIN from the key spec, which ends up on command lines
and in process lists: the composition root reads it from ``RINGFENCE_HSM_PIN``. It keeps the
PIN in memory, to log in again when the device drops its session (a restart), and signs once
more then.

A key is named by a PKCS#11 URI in the form of RFC 7512, reduced to what selects one key:
``pkcs11:token=LABEL;object=LABEL`` (percent-encoded values, an optional ``type=private``, and
an optional ``?module-path=/path/to/module.so``). Anything else in it is refused, so that a
mistyped attribute cannot quietly select another key.

Failures of the device are ``HsmError`` (a ``StorageError``: nothing was signed, so nothing
was written) carrying one of the reasons in ``hsm_reasons``; a missing or existing journal key
is the ``InputError`` the port names.

Library: python-pkcs11 rather than PyKCS11. Both are maintained (python-pkcs11 0.10.1 and
PyKCS11 1.5.20, released 2026-10 and 2026-09); python-pkcs11 is MIT-licensed where PyKCS11 is
GPL-2.0-or-later, ships type information (``py.typed``) so mypy checks the calls, and exposes
keys, sessions and mechanisms (EDDSA, EC_EDWARDS) as objects rather than raw handles.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import (
    DeviceRemoved,
    MultipleObjectsReturned,
    NoSuchKey,
    NoSuchToken,
    PinIncorrect,
    PinLenRange,
    PinLocked,
    PKCS11Error,
    SessionClosed,
    SessionHandleInvalid,
    TokenNotPresent,
    UserNotLoggedIn,
)
from pkcs11.util.ec import encode_named_curve_parameters

from ringfence.core.errors import InputError, Result, StorageError

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Module  # noqa: N812 (a class, named in lower case)

__all__ = [
    "HsmError",
    "HsmJournalSigner",
    "HsmToken",
    "KeyLocation",
    "TokenKey",
    "default_module_path",
    "hsm_reasons",
    "octet_string",
    "open_token",
    "parse_key_uri",
    "pkcs11_scheme",
    "secp256k1_curve",
    "secp256k1_order",
]

pkcs11_scheme = "pkcs11:"
# Debian's softhsm2 package; a real HSM's module is named in the URI or by the caller.
default_module_path = "/usr/lib/softhsm/libsofthsm2.so"

# Curves by object identifier: RFC 8410's Ed25519 and SEC 2's secp256k1.
ed25519_curve = "1.3.101.112"
secp256k1_curve = "1.3.132.0.10"
secp256k1_order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# Journal heads and key-possession messages are under 100 bytes; a token signs EdDSA in one
# part, so anything far larger is a caller's mistake, not a message to sign.
message_bytes_max = 4096
# RFC 7512 leaves labels at 32 bytes in a CK_TOKEN_INFO; object labels have no bound, ours do.
label_bytes_max = 64

hsm_reasons = frozenset(
    {
        "hsm_module_unavailable",  # the PKCS#11 module could not be loaded
        "hsm_token_not_found",  # no token (or more than one) has that label
        "hsm_pin_missing",  # no user PIN was given (RINGFENCE_HSM_PIN)
        "hsm_pin_incorrect",  # the token refused the PIN
        "hsm_pin_locked",  # too many wrong PINs: the token's officer must unlock it
        "hsm_key_not_found",  # a chain key that is not on the token
        "hsm_key_exists",  # a chain key with that label is on the token already
        "hsm_key_ambiguous",  # more than one key answers to the label
        "hsm_session_lost",  # the device dropped the session (restarted, removed)
        "hsm_refused",  # any other failure of the token while signing or making a key
    }
)


class HsmError(StorageError):
    """The security module could not do what was asked; nothing was signed. ``reason`` is one
    of ``hsm_reasons``."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in hsm_reasons, reason
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class KeyLocation:
    """Where one key lives: the PKCS#11 module, the token's label and the key's label."""

    module_path: str
    token_label: str
    object_label: str

    def uri(self) -> str:
        token, key = quote(self.token_label, safe=""), quote(self.object_label, safe="")
        return f"pkcs11:token={token};object={key}"


def parse_key_uri(spec: str, module_path: str = default_module_path) -> KeyLocation:
    """The key a ``pkcs11:`` URI names (RFC 7512's path attributes ``token``, ``object`` and
    ``type=private``, the query attribute ``module-path``); ``module_path`` when the URI names
    none. ``InputError`` ``journal_key_invalid`` for anything else, a PIN included."""
    if not spec.startswith(pkcs11_scheme):
        raise InputError(Result.journal_key_invalid, f"not a pkcs11: URI: {spec!r}")
    path, _, query = spec[len(pkcs11_scheme) :].partition("?")
    attributes = _uri_attributes(path, ";", {"token", "object", "type"})
    queries = _uri_attributes(query, "&", {"module-path"})
    if attributes.get("type", "private") != "private":
        raise InputError(Result.journal_key_invalid, "a signing key is type=private")
    for name in ("token", "object"):
        value = attributes.get(name, "")
        if not value or len(value.encode()) > label_bytes_max:
            raise InputError(
                Result.journal_key_invalid,
                f"{spec!r}: {name}= must name a label of 1 to {label_bytes_max} bytes",
            )
    return KeyLocation(
        queries.get("module-path", module_path), attributes["token"], attributes["object"]
    )


def _uri_attributes(text: str, separator: str, known: set[str]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for part in filter(None, text.split(separator)):
        name, equals, value = part.partition("=")
        if name in ("pin-value", "pin-source"):
            raise InputError(
                Result.journal_key_invalid,
                "the PIN never goes in the key URI: set RINGFENCE_HSM_PIN",
            )
        if not equals or name not in known or name in attributes:
            raise InputError(
                Result.journal_key_invalid,
                f"pkcs11 URI attribute {name!r} is unknown, repeated or empty "
                f"(known: {', '.join(sorted(known))})",
            )
        try:
            attributes[name] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise InputError(
                Result.journal_key_invalid, f"pkcs11 URI attribute {name!r} is not UTF-8"
            ) from None
    return attributes


# ---------------------------------------------------------------------------- the token

# PKCS#11 state is per process, not per object: a module is initialised once (python-pkcs11
# keeps one per path), and a login holds for every session of the application on that token,
# so a second login is refused. Logged-in tokens are therefore kept here, one per token and
# process, which is what the device itself does.
_tokens: dict[tuple[str, str], HsmToken] = {}
_registry_lock = threading.Lock()
# The PIN's digest is kept beside its session to tell a second caller's PIN from the first's;
# salted per process, so it says nothing outside it.
_pin_salt = secrets.token_bytes(32)


# What a token answers once the session it had is gone: it was restarted, removed or closed.
_session_lost_errors = (
    DeviceRemoved,
    SessionClosed,
    SessionHandleInvalid,
    TokenNotPresent,
    UserNotLoggedIn,
)


class HsmToken:
    """One logged-in read/write session on one token. PKCS#11 sessions must not be used by
    two threads at once, so every call on it holds ``lock``. Once the device drops the
    session the token is ``lost`` and leaves the registry; the next ``open_token`` logs in
    anew."""

    def __init__(
        self, session: pkcs11.Session, module_path: str, label: str, pin_digest: bytes
    ) -> None:
        self.session = session
        self.module_path = module_path
        self.label = label
        self.lock = threading.Lock()
        self.lost = False
        self._pin_digest = pin_digest

    def accepts(self, pin_digest: bytes) -> bool:
        """Whether ``pin_digest`` is of the PIN this token was opened with."""
        return hmac.compare_digest(self._pin_digest, pin_digest)

    def find_key(self, object_class: ObjectClass, key_type: KeyType, label: str) -> Any | None:
        """The one key of that class, type and label, or None."""
        try:
            with self.lock:
                return self.session.get_key(object_class, key_type, label)
        except NoSuchKey:
            return None
        except MultipleObjectsReturned:
            raise HsmError("hsm_key_ambiguous", f"{self.label}/{label}") from None
        except PKCS11Error as error:
            raise self._failure(error, f"finding {label}") from None

    def generate(self, key_type: KeyType, curve: str, label: str, mechanism: Mechanism) -> Any:
        """A new key pair on the token; the private half sensitive and non-extractable.
        Returns the public key."""
        parameters = encode_named_curve_parameters(curve)
        try:
            with self.lock:
                domain = self.session.create_domain_parameters(
                    key_type, {Attribute.EC_PARAMS: parameters}, local=True
                )
                public, _ = domain.generate_keypair(
                    id=secrets.token_bytes(16),
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    mechanism=mechanism,
                    public_template={Attribute.VERIFY: True, Attribute.PRIVATE: False},
                    private_template={
                        Attribute.SIGN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.DERIVE: False,
                        Attribute.DECRYPT: False,
                        Attribute.UNWRAP: False,
                    },
                )
        except PKCS11Error as error:
            raise self._failure(error, f"making {label}") from None
        return public

    def sign(self, private_key: Any, data: bytes, mechanism: Mechanism) -> bytes:
        try:
            with self.lock:
                signature = private_key.sign(data, mechanism=mechanism)
        except PKCS11Error as error:
            raise self._failure(error, "signing") from None
        assert isinstance(signature, bytes)
        return signature

    def close(self) -> None:
        """Close the session (logging out when it is the last); later calls on this token
        fail as ``hsm_session_lost`` and ``open_token`` logs in anew."""
        self._forget()
        with self.lock:
            self.session.close()

    def _failure(self, error: PKCS11Error, doing: str) -> HsmError:
        if isinstance(error, _session_lost_errors):
            self._forget()
            return HsmError("hsm_session_lost", f"token {self.label}, {doing}: {_describe(error)}")
        return HsmError("hsm_refused", f"token {self.label}, {doing}: {_describe(error)}")

    def _forget(self) -> None:
        with _registry_lock:
            self.lost = True
            if _tokens.get((self.module_path, self.label)) is self:
                del _tokens[(self.module_path, self.label)]


def open_token(module_path: str, token_label: str, pin: str | None) -> HsmToken:
    """The logged-in session on ``token_label`` (opened now, or the one this process already
    holds, if ``pin`` is the PIN it was opened with)."""
    if not pin:
        raise HsmError("hsm_pin_missing", f"token {token_label}: set RINGFENCE_HSM_PIN")
    pin_digest = hashlib.sha256(_pin_salt + pin.encode()).digest()
    with _registry_lock:
        token = _tokens.get((module_path, token_label))
        if token is not None:
            if not token.accepts(pin_digest):
                raise HsmError("hsm_pin_incorrect", f"token {token_label}")
            return token
        session = _login(_module(module_path), token_label, pin)
        token = HsmToken(session, module_path, token_label, pin_digest)
        _tokens[(module_path, token_label)] = token
        return token


def _module(module_path: str) -> Module:
    try:
        return pkcs11.lib(module_path)
    except PKCS11Error as error:
        raise HsmError("hsm_module_unavailable", f"{module_path}: {error}") from None


def _login(module: Module, token_label: str, pin: str) -> pkcs11.Session:
    try:
        token = module.get_token(token_label=token_label)
    except NoSuchToken:
        raise HsmError("hsm_token_not_found", f"no token labelled {token_label!r}") from None
    except MultipleObjectsReturned:
        raise HsmError("hsm_token_not_found", f"several tokens labelled {token_label!r}") from None
    try:
        return token.open(rw=True, user_pin=pin)
    except (PinIncorrect, PinLenRange):
        raise HsmError("hsm_pin_incorrect", f"token {token_label}") from None
    except PinLocked:
        raise HsmError("hsm_pin_locked", f"token {token_label}") from None
    except PKCS11Error as error:
        raise HsmError("hsm_refused", f"token {token_label}: {_describe(error)}") from None


def _describe(error: PKCS11Error) -> str:
    return str(error) or type(error).__name__


def octet_string(point: bytes, size: int) -> bytes:
    """The key bytes in a CKA_EC_POINT: a DER OCTET STRING of ``size`` bytes (what PKCS#11
    specifies), or the bare bytes (what some modules return for Edwards keys)."""
    if len(point) == size:
        return point
    assert size < 128  # a one-byte DER length
    if len(point) != size + 2 or point[0] != 0x04 or point[1] != size:
        raise HsmError("hsm_refused", f"unexpected EC point encoding {point.hex()}")
    return point[2:]


# ---------------------------------------------------------------------------- the signers


class TokenKey:
    """A key pair on a token, found by label; the session is opened on first use (reading a
    ledger needs no key, and no PIN)."""

    key_type: KeyType
    curve: str
    mechanism: Mechanism

    def __init__(self, location: KeyLocation, pin: str | None, token: HsmToken | None) -> None:
        self.location = location
        self._pin = pin
        self._token = token
        self._private: Any | None = None

    def token(self) -> HsmToken:
        """The logged-in session; a new one if the device dropped the last (which is why the
        PIN is kept: a restarted HSM needs a new login)."""
        if self._token is None or self._token.lost:
            location = self.location
            self._token = open_token(location.module_path, location.token_label, self._pin)
            self._private = None  # a handle from the session before
        return self._token

    def public_point(self) -> bytes | None:
        public = self.token().find_key(ObjectClass.PUBLIC_KEY, self.key_type, self._label())
        return None if public is None else bytes(public[Attribute.EC_POINT])

    def generate(self) -> bytes | None:
        """Make the pair; None if one with this label is there already."""
        token = self.token()
        if token.find_key(ObjectClass.PRIVATE_KEY, self.key_type, self._label()) is not None:
            return None
        public = token.generate(self.key_type, self.curve, self._label(), self.mechanism)
        return bytes(public[Attribute.EC_POINT])

    def signature(self, data: bytes, mechanism: Mechanism) -> bytes | None:
        """``data`` signed on the token; None if there is no private key of this label. A
        session the device dropped is opened anew and the signature asked once more (signing
        changes nothing on the token, so asking twice is safe)."""
        try:
            return self._signature_once(data, mechanism)
        except HsmError as error:
            if error.reason != "hsm_session_lost":
                raise
        return self._signature_once(data, mechanism)

    def _signature_once(self, data: bytes, mechanism: Mechanism) -> bytes | None:
        token = self.token()
        if self._private is None:
            self._private = token.find_key(ObjectClass.PRIVATE_KEY, self.key_type, self._label())
            if self._private is None:
                return None
        return token.sign(self._private, data, mechanism)

    def _label(self) -> str:
        return self.location.object_label


class HsmJournalSigner(TokenKey):
    """The journal key as an Ed25519 key pair on a PKCS#11 token (the ``Signer`` port)."""

    key_type = KeyType.EC_EDWARDS
    curve = ed25519_curve
    mechanism = Mechanism.EC_EDWARDS_KEY_PAIR_GEN

    def __init__(
        self, location: KeyLocation, pin: str | None = None, token: HsmToken | None = None
    ) -> None:
        """The key at ``location``, logging in with ``pin`` on first use (or on ``token``,
        a session already open)."""
        super().__init__(location, pin, token)

    def public_key(self) -> bytes | None:
        point = self.public_point()
        return None if point is None else octet_string(point, 32)

    def create(self) -> bytes:
        point = self.generate()
        if point is None:
            raise InputError(Result.journal_key_exists, self.location.uri())
        return octet_string(point, 32)

    def sign(self, message: bytes) -> bytes:
        assert len(message) <= message_bytes_max
        signature = self.signature(message, Mechanism.EDDSA)
        if signature is None:
            raise InputError(Result.journal_key_missing, f"no key at {self.location.uri()}")
        if len(signature) != 64:
            raise HsmError("hsm_refused", f"an EdDSA signature of {len(signature)} bytes")
        return signature
