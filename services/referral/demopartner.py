"""A partner to refer to, on a platform run locally: so that a newcomer can follow a case from
registration to a referral in the forms without first registering an agency by hand.

``homeward up`` registers it once the referral service answers, when tokens are signed locally
(never with an organisation's identity provider): the school ``SCH-GOMA``, whose user
``sch-goma-app`` the forms' local sign-in offers. Its key pair is made in the data folder
(``demo-partner/SCH-GOMA/``), as a partner makes its own with ``homeward partner keygen``, so
its referrals can be opened there with ``homeward partner read``.
"""

import time
from pathlib import Path

import httpx2 as httpx

from services.referral.partnerside import private_key, write_new_private_key
from shared.access import Role
from shared.partnerbox import PARTNER_KEY_FILE, encoded_key
from shared.settings import Settings
from shared.tokens import issue_local_token

DEMO_PARTNER = {
    "agency": "SCH-GOMA",
    "name": "Demo school and training centre, Goma",
    "kind": "school",
    "country": "CD",
    "services": ["education", "vocational_training"],
}


def demo_key_folder(settings: Settings) -> Path:
    return settings.data_dir / "demo-partner" / str(DEMO_PARTNER["agency"])


def _public_key(folder: Path) -> str:
    """The demo partner's public key, its key pair made the first time."""
    path = folder / PARTNER_KEY_FILE
    key = private_key(path) if path.exists() else write_new_private_key(path)
    return encoded_key(key.public_key)


def ensure_demo_partner(settings: Settings, referral_url: str, wait_seconds: float = 120) -> str:
    """Register the demo partner unless the referral service knows it; say what was done."""
    token = issue_local_token(settings, sub="homeward-up", role=Role.ADMIN, agency="HW-ADMIN")
    headers = {"Authorization": f"Bearer {token}"}
    agency = DEMO_PARTNER["agency"]
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            known = httpx.get(f"{referral_url}/partners/{agency}", headers=headers, timeout=5)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                return f"demo partner {agency}: the referral service did not answer"
            time.sleep(1)
    if known.status_code == 200:
        return f"demo partner {agency} (education, vocational training): registered earlier"
    folder = demo_key_folder(settings)
    answer = httpx.post(
        f"{referral_url}/partners",
        json={**DEMO_PARTNER, "public_key": _public_key(folder)},
        headers=headers,
        timeout=10,
    )
    if answer.status_code != 201:
        return f"demo partner {agency} not registered: {answer.status_code} {answer.text[:200]}"
    return (
        f"demo partner {agency} (education, vocational training) registered: refer to it in "
        f"the forms; its private key is in {folder}"
    )
