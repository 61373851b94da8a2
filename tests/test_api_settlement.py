"""The settlement API (`/api/v1`): netting, instructions and their documents (the same bytes
`settlement instruct` writes), inbound statuses, penalties and the quarantine; each through
the CLI command's name and permission, refused to a role without it, bad input a 4xx."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backoffice.api.app import create_app
from backoffice.formats.sese023 import validate_sese023
from backoffice.store.engine import Store
from tests.cli_runner import Cli
from tests.settling import (
    MICROSOFT,
    SETTLES,
    by_counterparty_and_isin,
    import_trades,
    load_settlement_desk,
    mt54x_confirmation,
    obligations,
    trade,
)
from tests.test_api_business import bearer
from tests.test_api_trades import events
from tests.test_settlement_cli import DATE, ISSUE_KEYS, files_of
from tests.test_settlement_cli import desk as settlement_desk
from tests.trading import APPLE, TOTAL

desk = settlement_desk  # the fixture, under the name the tests ask for


@pytest.fixture
def api(desk: Store) -> TestClient:
    bearer(desk, "admin", "admin")
    return TestClient(create_app(desk))


@pytest.fixture
def ops(desk: Store, api: TestClient) -> dict[str, str]:
    return bearer(desk, "olga", "operations")


def test_netting_stores_the_days_obligations_and_answers_the_netting_report(
    desk: Store, api: TestClient, ops: dict[str, str]
) -> None:
    netted = api.post("/api/v1/netting", json={"date": DATE}, headers=ops)
    assert netted.status_code == 200, netted.text
    report = netted.json()
    assert set(report) >= ISSUE_KEYS
    assert (report["mode"], report["gross_count"], report["net_count"]) == ("bilateral", 5, 4)
    assert len(obligations(desk)) == 4
    bad_mode = api.post("/api/v1/netting", json={"date": DATE, "mode": "gross"}, headers=ops)
    assert (bad_mode.status_code, bad_mode.json()["errors"][0]["field"]) == (422, "mode")
    assert api.post("/api/v1/netting", json={"date": "tomorrow"}, headers=ops).status_code == 422
    auditor = bearer(desk, "ann", "auditor")
    refused = api.post("/api/v1/netting", json={"date": DATE}, headers=auditor)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert events(desk, "settlement.net")[-1].outcome == "forbidden"


def test_instructions_are_made_listed_and_their_documents_are_the_bytes_the_cli_writes(
    desk: Store, api: TestClient, ops: dict[str, str], cli: Cli, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    api.post("/api/v1/netting", json={"date": DATE}, headers=ops)
    made = api.post("/api/v1/instructions", json={"date": DATE}, headers=ops)
    assert made.status_code == 200, made.text
    assert (len(made.json()["new"]), made.json()["cancelled"]) == (4, [])
    items = made.json()["items"]
    document = api.get(items[0]["document"], headers=ops)
    assert document.headers["content-type"].startswith("application/xml")
    assert f'filename="{items[0]["reference"]}.xml"' in document.headers["content-disposition"]
    assert validate_sese023(document.content) == []
    monkeypatch.setenv("BACKOFFICE_TOKEN", ops["Authorization"].removeprefix("Bearer "))
    out = tmp_path / "sese023"
    assert cli("settlement", "instruct", "--date", DATE, "-o", str(out)).status == 0
    served = {f"{i['reference']}.xml": api.get(i["document"], headers=ops).content for i in items}
    assert served == files_of(out)
    fin = api.get(
        f"/api/v1/instructions/{items[0]['reference']}/document?format=mt54x", headers=ops
    )
    assert fin.headers["content-type"].startswith("text/plain")
    assert ":23G:NEWM" in fin.text
    first = api.get(f"/api/v1/instructions?date={DATE}&limit=3", headers=ops).json()
    rest = api.get(f"/api/v1/instructions?after={first['next']}", headers=ops).json()
    assert [i["reference"] for i in first["items"] + rest["items"]] == [
        i["reference"] for i in items
    ]
    assert rest["next"] is None
    unknown = api.get("/api/v1/instructions/OB-NOPE/document", headers=ops)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_instruction")
    bad_format = api.get(f"{items[0]['document'].split('?')[0]}?format=mt103", headers=ops)
    assert (bad_format.status_code, bad_format.json()["code"]) == (422, "invalid_format")
    refused = api.post("/api/v1/instructions", json={"date": DATE, "format": "mt103"}, headers=ops)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_format")
    auditor = bearer(desk, "ann", "auditor")
    assert api.post("/api/v1/instructions", json={"date": DATE}, headers=auditor).status_code == 403
    assert api.get("/api/v1/instructions", headers=auditor).status_code == 200


def test_a_cancelled_trades_instruction_is_cancelled_by_an_mt54x_document(
    desk: Store, api: TestClient, ops: dict[str, str], tmp_path: Path
) -> None:
    api.post("/api/v1/netting", json={"date": DATE}, headers=ops)
    api.post("/api/v1/instructions", json={"date": DATE}, headers=ops)
    import_trades(
        desk,
        tmp_path,
        trade(
            "X2", exec_type="H", ref="E2", account="C2", side="SELL", quantity="40", price="10.50"
        ),
    )
    again = api.post("/api/v1/instructions", json={"date": DATE}, headers=ops).json()
    (cancel,) = again["cancelled"]
    (item,) = [i for i in again["items"] if i["reference"] == cancel]
    document = api.get(item["document"], headers=ops)  # sese.023 cannot carry a cancellation
    assert document.headers["content-type"].startswith("text/plain")
    assert ":23G:CANC" in document.text
    assert f":20C::PREV//{item['previous_reference']}" in document.text


def test_statuses_posted_settle_the_obligations_once_and_the_unknown_are_quarantined(
    desk: Store, api: TestClient, ops: dict[str, str]
) -> None:
    api.post("/api/v1/netting", json={"date": DATE}, headers=ops)
    api.post("/api/v1/instructions", json={"date": DATE}, headers=ops)
    rows = by_counterparty_and_isin(obligations(desk))
    receipt, delivery = rows["GS", APPLE]["obligation_id"], rows["GS", MICROSOFT]["obligation_id"]
    messages = [
        mt54x_confirmation(
            "545", "CONF1", receipt, quantity="60,", amount="USD580,", settled_on=SETTLES
        ),
        mt54x_confirmation(
            "547", "CONF2", delivery, quantity="50,", amount="USD1000,", settled_on=SETTLES
        ),
    ]
    body = "\r\n$\r\n".join(messages).encode("ascii")
    applied = api.post("/api/v1/settlement/status", content=body, headers=ops)
    assert applied.status_code == 200, applied.text
    assert {k: applied.json()[k] for k in ("received", "applied", "settled", "quarantined")} == {
        "received": 2, "applied": 2, "settled": 2, "quarantined": 0,
    }  # fmt: skip
    assert obligations(desk)[receipt]["status"] == "settled"
    replayed = api.post("/api/v1/settlement/status", content=body, headers=ops).json()
    assert (replayed["existing"], replayed["applied"]) == (2, 0)
    stranger = mt54x_confirmation(
        "545", "CONF9", "OB00000000000000", quantity="1,", amount="USD1,", settled_on=SETTLES
    )
    refused = api.post("/api/v1/settlement/status", content=stranger, headers=ops).json()
    assert (refused["quarantined"], refused["errors"][0]["code"]) == (1, "unknown_instruction")
    (item,) = api.get("/api/v1/settlement/quarantine", headers=ops).json()["items"]
    assert [p["code"] for p in item["problems"]] == ["unknown_instruction"]
    assert ":20C::SEME//CONF9" in item["raw"]
    auditor = bearer(desk, "ann", "auditor")
    assert api.post("/api/v1/settlement/status", content=body, headers=auditor).status_code == 403
    assert api.get("/api/v1/settlement/quarantine?after=x", headers=ops).status_code == 422


def test_penalties_price_the_months_fails_from_the_prices_sent_as_an_audited_read(
    store: Store, tmp_path: Path
) -> None:
    load_settlement_desk(store, tmp_path)
    import_trades(
        store,
        tmp_path,
        trade("S1", isin=TOTAL, currency="EUR", venue="XPAR", trade_date="2026-03-02",
              account="C2", side="SELL", quantity="333", price="50.00"),
    )  # fmt: skip
    api = TestClient(create_app(store))
    bearer(store, "admin", "admin")
    ops = bearer(store, "olga", "operations")
    api.post("/api/v1/netting", json={"date": "2026-03-04"}, headers=ops)
    api.post("/api/v1/instructions", json={"date": "2026-03-04"}, headers=ops)
    prices = f"isin,date,price,currency\n{TOTAL},2026-03-02,50.00,EUR\n"
    priced = api.request("GET", "/api/v1/penalties?month=2026-03", content=prices, headers=ops)
    assert priced.status_code == 200, priced.text
    (line,) = priced.json()["lines"]
    assert (line["days"], line["amount"], line["firm_amount"]) == (20, "33.40", "-33.40")
    assert events(store, "settlement.penalties")[-1].outcome == "ok"
    posted = api.post("/api/v1/penalties?month=2026-03", content=prices, headers=ops).json()
    assert posted["lines"] == priced.json()["lines"]
    unpriced = f"isin,date,price,currency\n{APPLE},2026-03-02,10.00,USD\n"
    missing = api.post("/api/v1/penalties?month=2026-03", content=unpriced, headers=ops).json()
    assert (missing["lines"], missing["errors"][0]["code"]) == ([], "missing_reference_price")
    bad_month = api.post("/api/v1/penalties?month=March", content=prices, headers=ops)
    assert (bad_month.status_code, bad_month.json()["code"]) == (422, "invalid_month")
    bad_rate = api.post(
        "/api/v1/penalties?month=2026-03&cash_rate=EUR:soon:4", content=prices, headers=ops
    )
    assert (bad_rate.status_code, bad_rate.json()["code"]) == (422, "invalid_cash_rate")
    not_csv = api.post("/api/v1/penalties?month=2026-03", content=b"", headers=ops)
    assert not_csv.status_code == 422
    admin = bearer(store, "adam", "admin")
    assert (
        api.post("/api/v1/penalties?month=2026-03", content=prices, headers=admin).status_code
        == 403
    )
