"""The forms' sealed cookies and the offline script's key."""

import base64
import secrets

from services.web.session import SESSION_COOKIE, SIGN_IN_COOKIE, Sealer, Session


def test_a_sealed_cookie_opens_only_as_itself_and_only_untouched():
    sealer = Sealer(secrets.token_bytes(32))
    session = Session(token="eyJ.token.here", expires_at=1e12, sub="cw-0412")
    sealed = sealer.seal(SESSION_COOKIE, session.to_document())
    assert "cw-0412" not in sealed
    assert "eyJ" not in sealed
    assert Session.of(sealer.open(SESSION_COOKIE, sealed)) == session
    # A sign-in cookie cannot stand in for a session, nor a session for a sign-in cookie.
    assert sealer.open(SIGN_IN_COOKIE, sealed) is None
    flipped = base64.urlsafe_b64encode(
        bytes([base64.urlsafe_b64decode(sealed)[0] ^ 1]) + base64.urlsafe_b64decode(sealed)[1:]
    ).decode()
    assert sealer.open(SESSION_COOKIE, flipped) is None
    assert Sealer(secrets.token_bytes(32)).open(SESSION_COOKIE, sealed) is None
    assert Session.of(sealer.open(SESSION_COOKIE, "not a cookie")).token is None


def test_the_offline_key_is_the_users_own_in_every_session():
    key = secrets.token_bytes(32)
    assert Sealer(key).offline_key("cw-0412") == Sealer(key).offline_key("cw-0412")
    assert Sealer(key).offline_key("cw-0412") != Sealer(key).offline_key("cw-0413")
    assert len(base64.b64decode(Sealer(key).offline_key("cw-0412"))) == 32
