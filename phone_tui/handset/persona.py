"""A persona: one OS on the handset with its own keystore, PIN, throttle and encrypted store.

The methods here block (Argon2id takes a fraction of a second by design); ``Handset`` runs them
in a thread so the UI keeps drawing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from phone_tui.core.atomic import atomic_write, fsync_dir
from phone_tui.core.documents import is_int, read_json
from phone_tui.core.entropy import Entropy
from phone_tui.core.paths import ensure_private_dir
from phone_tui.crypto.keystore import (
    DEFAULT_PARAMS,
    DEFAULT_POLICY,
    KdfParams,
    KdfPolicy,
    Keystore,
    UnlockOutcome,
)
from phone_tui.crypto.throttle import Throttle
from phone_tui.errors import KeystoreCorrupt, PinPolicyError, StoreError

if TYPE_CHECKING:  # pyca's key types, the store and the spool load when used, not at start-up
    from phone_tui.crypto.identity import IdentityKeys
    from phone_tui.handset.spool import Spool, SpoolRecord, SpoolReplay
    from phone_tui.store.database import PersonaStore

DEFAULT_AUTO_LOCK = 60
AUTO_LOCK_CHOICES = (15, 30, 60, 120, 300, 600, 0)  # 0 = never
WIPE_AFTER_CHOICES = (5, 10, 15, 20, 30, 0)  # 0 = never
PREVIOUS_STORE_KEY = "store_key_previous"  # only while a PIN change is re-keying the store


@dataclass(frozen=True)
class KdfConfig:
    """Argon2id parameters for new keystores and the weakest an existing one may use."""

    params: KdfParams = DEFAULT_PARAMS
    policy: KdfPolicy = DEFAULT_POLICY


# What a persona made without a KdfConfig uses (the CLI's and the app's only choice). A test of
# the CLI in-process, which has no way to pass one, swaps it with the ``fast_kdf`` fixture.
DEFAULT_KDF = KdfConfig()


class Persona:
    """Files and, while unlocked, keys of one persona."""

    def __init__(self, name: str, folder: Path, entropy: Entropy,
                 kdf: KdfConfig | None = None) -> None:
        self.name = name
        self.folder = folder
        self.entropy = entropy
        self.kdf = kdf or DEFAULT_KDF
        self.throttle = Throttle(folder / "throttle.json")
        self.keystore: Keystore | None = None
        self._spool: Spool | None = None
        self.store: PersonaStore | None = None

    @property
    def keystore_path(self) -> Path:
        return self.folder / "keystore.bin"

    @property
    def store_path(self) -> Path:
        return self.folder / "store.db"

    @property
    def policy_path(self) -> Path:
        """Unlock policy read before the PIN is known (so not encrypted, like throttle.json)."""
        return self.folder / "policy.json"

    def wipe_after(self, default: int) -> int:
        """Wrong PINs in a row that wipe this persona (0 = never); ``default`` from settings.toml
        until the persona's own Settings change it."""
        advice = ("it was left untouched. Remove it to use wipe_after_failures from "
                  "settings.toml")
        try:
            raw = read_json(self.policy_path, KeystoreCorrupt, advice)
        except FileNotFoundError:
            return default
        value = raw.get("wipe_after_failures")
        if not is_int(value, 0, 1000):
            raise KeystoreCorrupt(self.policy_path, "expected a count of wrong PINs from 0 "
                                  f"(never) to 1000; {advice}", key="wipe_after_failures")
        return value

    def set_wipe_after(self, count: int) -> None:
        if count not in WIPE_AFTER_CHOICES:
            raise PinPolicyError(f"Wipe-after must be one of {WIPE_AFTER_CHOICES}.")
        atomic_write(self.policy_path, json.dumps({"wipe_after_failures": count}).encode())

    @property
    def is_set_up(self) -> bool:
        return self.keystore_path.exists()

    @property
    def is_unlocked(self) -> bool:
        return self.keystore is not None

    def create(self, pin: str, duress_pin: str | None, profile: dict[str, object],
               auto_lock: int = DEFAULT_AUTO_LOCK) -> None:
        """First-run setup: a new keystore holding a fresh store key, and the store itself
        (its auto-lock set to ``auto_lock`` seconds, 0 = never)."""
        for folder in (self.folder.parent.parent, self.folder.parent, self.folder):
            ensure_private_dir(folder)
        store_key = self.entropy.token_bytes(32)
        keystore = Keystore.create(self.keystore_path, pin, entropy=self.entropy,
                                   secrets={"store_key": store_key.hex()},
                                   duress_pin=duress_pin, params=self.kdf.params)
        # A store left by an interrupted setup has no key any more (nor its write-ahead log).
        for path in (self.store_path, *self.folder.glob("store.db-*")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        from phone_tui.store.database import PersonaStore

        store = PersonaStore(self.store_path, store_key)
        with store.transaction():
            for key, value in profile.items():
                store.put("profile", key, value)
            store.put("settings", "auto_lock_seconds", auto_lock)
        self.throttle.reset()
        self.keystore, self.store = keystore, store

    def try_unlock(self, pin: str) -> UnlockOutcome:
        outcome, keystore = Keystore.unlock(self.keystore_path, pin, entropy=self.entropy,
                                            policy=self.kdf.policy)
        if keystore is not None:
            try:
                store = self._open_store(keystore)
            except BaseException:
                keystore.close()
                raise
            self.keystore, self.store = keystore, store
        return outcome

    def _open_store(self, keystore: Keystore) -> PersonaStore:
        """Open the store with the keystore's key. A keystore that still holds the previous
        key too was written by a PIN change that did not finish: the store opens with one of
        the two; finish the rekey, then forget the previous key."""
        from phone_tui.store.database import PersonaStore

        current = bytes.fromhex(keystore.secret("store_key"))
        previous_hex = keystore.secrets.get(PREVIOUS_STORE_KEY)
        if previous_hex is None:
            return PersonaStore(self.store_path, current)
        try:
            store = PersonaStore(self.store_path, current)
        except StoreError:
            store = PersonaStore(self.store_path, bytes.fromhex(previous_hex))
            try:
                store.rekey(current)
            except BaseException:
                store.close()
                raise
        keystore.forget(PREVIOUS_STORE_KEY)
        return store

    def change_pin(self, new_pin: str, derived: bytes | None = None) -> None:
        """A new PIN and a new store key: an old copy of keystore.bin (with the old PIN) then
        opens nothing written since. Crash-safe at every step: the keystore first holds the
        new key and the previous one, the store is rekeyed, then the previous key goes."""
        keystore, store = self.keystore, self.store
        if keystore is None or store is None:
            raise PinPolicyError("Unlock the phone first.")
        previous = keystore.secret("store_key")
        new = self.entropy.token_bytes(32)
        keystore.change_pin(new_pin, secrets={"store_key": new.hex(),
                                              PREVIOUS_STORE_KEY: previous}, derived=derived)
        store.rekey(new)
        keystore.forget(PREVIOUS_STORE_KEY)

    # ---- messaging keys and the spool -------------------------------------------------------

    def identity_keys(self, now: float) -> IdentityKeys:
        """The persona's messaging identity (made and saved on first use)."""
        keystore = self.keystore
        if keystore is None:
            raise PinPolicyError("Unlock the phone first.")
        from phone_tui.crypto.identity import IdentityKeys

        stored = keystore.secrets.get("identity")
        if stored is not None:
            keys = IdentityKeys.from_secrets(stored)
            if keys.spk_signature is None or "sign" in stored:
                # Saved before XEdDSA: the identity key itself now signs the prekey and the old
                # Ed25519 key goes. The identity key, hence the safety number, is unchanged.
                keys.sign_prekey(self.entropy)
                self.save_identity(keys)
            return keys
        keys = IdentityKeys.generate(self.entropy, now)
        self.save_identity(keys)
        return keys

    def save_identity(self, keys: IdentityKeys) -> None:
        if self.keystore is not None:
            self.keystore.update(identity=keys.to_secrets())

    @property
    def spool_path(self) -> Path:
        return self.folder / "spool.jsonl"

    @property
    def rejected_spool_path(self) -> Path:
        """Spool entries that could not be replayed, kept (never lost with the others)."""
        from phone_tui.handset.spool import REJECTED_NAME

        return self.folder / REJECTED_NAME

    @property
    def spool_file(self) -> Spool:
        """The spool (one object per persona: it remembers its size, to check the cap)."""
        if self._spool is None:
            from phone_tui.handset.spool import Spool

            self._spool = Spool(self.spool_path)
        return self._spool

    def spool(self, kind: str, *, sender: str | None = None, **fields: str) -> None:
        """Keep something that arrived while locked (ciphertext or a delivery state) on disk
        until the next unlock; raises SpoolFull past the spool's cap or ``sender``'s share."""
        self.spool_file.append(kind, sender=sender, **fields)

    def spooled_messages(self) -> int:
        """Messages that arrived while locked and wait, encrypted, for the next unlock."""
        if not self.is_set_up:
            return 0
        if self._spool is None and not self.spool_path.exists():
            return 0  # the lock screen's usual case: no need to load the spool's module
        return self.spool_file.envelopes()

    def replay_spool(self, handle: Callable[[SpoolRecord], None]) -> SpoolReplay:
        """Hand what the spool holds to ``handle``, oldest first; each entry leaves the spool
        once handled, and one that cannot be is set aside in the rejected file."""
        return self.spool_file.replay(handle)

    def lock(self) -> None:
        """Close the store and forget every key."""
        if self.store is not None:
            self.store.close()
        if self.keystore is not None:
            self.keystore.close()
        self.keystore = self.store = None

    def wipe(self) -> None:
        """Destroy the persona. Removing the keystore first makes the store unreadable at once."""
        self.lock()
        for path in (self.keystore_path, self.store_path, self.throttle.path, self.spool_path,
                     self.rejected_spool_path, self.policy_path, self.folder / "public.json"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        for leftover in self.folder.glob("store.db-*"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        if self.folder.exists():
            fsync_dir(self.folder)
