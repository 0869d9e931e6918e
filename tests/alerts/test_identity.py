"""Users, roles and API tokens: canonical identities, argon2 hashes, only token hashes kept."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, extract_parameters, profiles

from alerts.errors import IdentityError, InvalidSilenceError, PermissionDeniedError
from alerts.identity import Identity, canonical, hash_token
from alerts.silences import SilenceMatchers
from alerts.store import AlertStore
from alerts.store import identity as store_identity
from alerts.store.tables import api_tokens, users
from tests.alerts.alertkit import PASSWORD, T0, make_alert, who


def test_names_are_compared_canonically() -> None:
    assert canonical("  Zhang.Min\t") == "zhang.min"
    assert Identity(user_id="zhang.min", display_name="Zhang Min", role="officer").same_as(
        " ZHANG.MIN "
    )
    for blank in ("", "   ", "\t"):
        with pytest.raises(IdentityError, match="blank"):
            canonical(blank)


def test_passwords_are_argon2_hashes_and_authenticate(store: AlertStore) -> None:
    added = store.users.add_user(" Li.Wei ", "officer", PASSWORD, display_name="Li Wei")
    assert (added.user_id, added.display_name, added.role) == ("li.wei", "Li Wei", "officer")
    with store.engine.connect() as connection:
        stored = connection.execute(sa.select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored

    assert store.users.authenticate("LI.WEI", PASSWORD).user_id == "li.wei"
    for name, password in (("li.wei", "wrong password"), ("nobody", PASSWORD), ("", PASSWORD)):
        with pytest.raises(IdentityError, match="unknown user or wrong password"):
            store.users.authenticate(name, password)


def test_the_shipped_hasher_is_argon2id_at_the_rfc_9106_low_memory_cost(
    store: AlertStore, shipped_password_hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite hashes at the cheapest cost (tests/conftest.py); this test uses the shipped one."""
    monkeypatch.setattr(store_identity, "_HASHER", shipped_password_hasher)
    store.users.add_user("li.wei", "officer", PASSWORD)
    with store.engine.connect() as connection:
        stored = connection.execute(sa.select(users.c.password_hash)).scalar_one()
    assert extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY
    assert store.users.authenticate("li.wei", PASSWORD).user_id == "li.wei"
    with pytest.raises(IdentityError, match="unknown user or wrong password"):
        store.users.authenticate("li.wei", "wrong password")


def test_a_user_name_is_unique_whatever_its_case(store: AlertStore) -> None:
    store.users.add_user("zhang.min", "officer", PASSWORD)
    with pytest.raises(IdentityError, match="already exists"):
        store.users.add_user(" Zhang.Min", "supervisor", PASSWORD)
    with pytest.raises(IdentityError, match="at least 8"):
        store.users.add_user("wang.fang", "officer", "short")
    with pytest.raises(IdentityError, match="unknown role"):
        store.users.add_user("wang.fang", "boss", PASSWORD)  # type: ignore[arg-type]
    assert [u.user_id for u in store.users.list_users()] == ["zhang.min"]


def test_tokens_are_bound_to_users_and_only_their_hash_is_kept(store: AlertStore) -> None:
    who(store, "li.wei")
    token = store.users.issue_token("Li.Wei", label="laptop")
    with store.engine.connect() as connection:
        kept = connection.execute(sa.select(api_tokens)).one()
    assert kept.token_hash == hash_token(token)
    assert token not in kept.token_hash
    assert store.users.identity_for_token(token).user_id == "li.wei"

    assert store.users.revoke_tokens("li.wei") == 1
    for bad in (token, "", "rmk_guess"):
        with pytest.raises(IdentityError, match="unknown or revoked"):
            store.users.identity_for_token(bad)


def test_blank_unknown_or_deactivated_identities_cannot_change_anything(
    store: AlertStore,
) -> None:
    alert = make_alert()
    store.upsert(alert)
    ghost = Identity(user_id="ghost", display_name="ghost", role="admin")
    blank = Identity(user_id=" ", display_name="", role="officer")
    for identity, problem in ((ghost, "no user"), (blank, "blank")):
        with pytest.raises(IdentityError, match=problem):
            store.acknowledge(alert.alert_id, by=identity)
        with pytest.raises(IdentityError, match=problem):
            store.add_silence(
                SilenceMatchers(category=("structuring",)),
                ends_at=T0.replace(hour=12),
                by=identity,
                reason="r",
                ticket="T-1",
            )
    with pytest.raises(IdentityError, match="not a name"):
        store.acknowledge(alert.alert_id, by="li.wei")  # type: ignore[arg-type]
    leaver = who(store, "leaver")
    store.users.deactivate("leaver")
    with pytest.raises(IdentityError, match="deactivated"):
        store.acknowledge(alert.alert_id, by=leaver)
    assert [e.action for e in store.history(alert.alert_id)] == ["stored"]


def test_a_role_claimed_by_the_caller_is_not_trusted(store: AlertStore) -> None:
    alert = make_alert()
    store.upsert(alert)
    auditor = who(store, "audit.ma", "auditor")
    forged = auditor.model_copy(update={"role": "supervisor"})
    with pytest.raises(PermissionDeniedError, match="may only read"):
        store.acknowledge(alert.alert_id, by=forged)


def test_a_silence_self_approval_differing_in_case_or_space_is_refused(
    store: AlertStore,
) -> None:
    store.users.add_user("zhang.min", "officer", PASSWORD)
    author = store.users.identity("zhang.min")
    silence = store.add_silence(
        SilenceMatchers(category=("structuring",)),
        ends_at=T0.replace(hour=12),
        by=author,
        reason="drill",
        ticket="T-1",
    )
    for spelling in ("Zhang.Min", " zhang.min ", "ZHANG.MIN"):
        same_person = store.users.identity(spelling)
        with pytest.raises(InvalidSilenceError, match="author of a silence cannot approve"):
            store.approve_silence(silence.silence_id, by=same_person)
    approved = store.approve_silence(silence.silence_id, by=who(store, "li.wei"))
    assert (approved.author, approved.approved_by) == ("zhang.min", "li.wei")
