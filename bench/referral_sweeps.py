"""What the referral service's periodic sweeps cost as referrals accumulate, on SQLite.

A history of ``--referrals`` referrals of which ``--open`` share is still open. Two readings
of the same store, in the same process: the baseline loads every referral from the log (what
the sweeps did before the index), the indexed sweep asks the index for the open ones and
loads only those. Prints figures and the ratio; never asserts a timing.
``.venv/bin/python bench/referral_sweeps.py --referrals 2000``.
"""

import argparse
import base64
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventsourcing.utils import get_topic

from services.referral.app import ReferralApplication
from services.referral.domain import Referral, ServiceKind, Urgency
from services.referral.index import ReferralIndex, Where
from shared.consent import DataCategory, Purpose
from shared.database import Database
from shared.keyring import CaseKeys, SqlKeyring, generate_master_key

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def application(folder: Path) -> ReferralApplication:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(folder / "s")}
    keyring = SqlKeyring(Database.named("keyring", env), base64.b64decode(generate_master_key()))
    app = ReferralApplication(env, lambda: NOW, CaseKeys(keyring, "bench"))
    app.attach_index(ReferralIndex(Database.of(app), app))
    return app


def record_history(app: ReferralApplication, referrals: int, open_share: float) -> None:
    for number in range(referrals):
        case_id = uuid.uuid4()
        app.case_keys.for_sealing(case_id)
        referral = Referral.make(
            case_id=case_id,
            agency=f"SCH-{number % 20}",
            service=ServiceKind.EDUCATION,
            purpose=Purpose.EDUCATION,
            urgency=Urgency.ROUTINE,
            categories=[DataCategory.IDENTITY],
            consent_ids=[uuid.uuid4()],
            shared_data={"name": f"child {number}"},
            answer_by=NOW + timedelta(days=7),
            made_by="cw-1",
            referring_agency="CD-KIN",
        )
        if number >= referrals * open_share:
            referral.withdraw("placed elsewhere", "cw-1")
        app.save(referral)


def every_referral_from_the_log(app: ReferralApplication) -> int:
    notifications = app.recorder.select_notifications(
        start=None, limit=1_000_000, topics=[get_topic(Referral.ReferralMade)]
    )
    loaded = [app.get_referral(uuid.UUID(str(n.originator_id))) for n in notifications]
    return sum(1 for referral in loaded if referral.state.value == "awaiting_answer")


def timed(run, repeats: int) -> tuple[float, int]:
    started = time.perf_counter()
    for _ in range(repeats):
        found = run()
    return (time.perf_counter() - started) / repeats, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--open", type=float, default=0.05, help="share still open")
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = application(Path(folder))
        started = time.perf_counter()
        record_history(app, arguments.referrals, arguments.open)
        print(f"history: {arguments.referrals} referrals in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        app.index.catch_up()
        print(f"index built from the log: {time.perf_counter() - started:.2f} s")
        baseline, open_found = timed(lambda: every_referral_from_the_log(app), arguments.repeats)
        indexed, indexed_found = timed(
            lambda: len([app.get_referral(i) for i in app.index.ids(Where(is_open=True))]),
            arguments.repeats,
        )
        assert open_found == indexed_found
        print(f"open referrals: {indexed_found}")
        print(f"baseline (every referral from the log): {baseline * 1000:.0f} ms per sweep")
        print(f"indexed (open ones only):               {indexed * 1000:.0f} ms per sweep")
        print(f"indexed / baseline: {indexed / baseline:.3f}")


if __name__ == "__main__":
    main()
