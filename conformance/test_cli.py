"""The CLI commands `launch` uses before serve (site create / update, keypair create), read back from the store."""

import json


from operator_proc import DSP_SITE_DOMAINS, MOBILE_SITE_APPS, SITE_999_APPS, SITE_999_DOMAINS
from wire import active_key_id, db_rows


def test_site_create_output_and_default_keyset(operator):
    op = operator
    for name, domains, apps in (("dsp", DSP_SITE_DOMAINS, []), ("sharer", [], []), ("mobile", [], MOBILE_SITE_APPS)):
        site = op.need_site(name)
        assert {"id", "name", "domain_names", "app_names", "keyset_id"} <= set(site), site
        assert site["domain_names"] == domains and site["app_names"] == apps, site
        rows = db_rows(op.db_path, "SELECT * FROM keysets WHERE keyset_id = ?", (site["keyset_id"],))
        assert len(rows) == 1, f"keyset {site['keyset_id']} of site {site['id']} is not in the store"
        ks = rows[0]
        assert (ks["site_id"], ks["enabled"], ks["is_default"], ks["allowed_sites"]) == (site["id"], 1, 1, None), ks
        keys = db_rows(op.db_path, "SELECT id FROM keyset_keys WHERE keyset_id = ?", (ks["keyset_id"],))
        assert len(keys) == 1, keys
        assert active_key_id(op.db_path, ks["keyset_id"], op.started_at_ms / 1000) == keys[0]["id"]


def test_site_update_replaced_the_lists_of_site_999(operator):
    op = operator
    op.need_site("dev")
    row = db_rows(op.db_path, "SELECT domain_names, app_names FROM sites WHERE id = 999")[0]
    assert json.loads(row["domain_names"]) == SITE_999_DOMAINS or sorted(json.loads(row["domain_names"])) == \
        sorted(SITE_999_DOMAINS), row
    assert sorted(json.loads(row["app_names"])) == sorted(SITE_999_APPS), row


def test_first_start_keysets(operator):
    ks = {k["keyset_id"]: k for k in db_rows(operator.db_path, "SELECT * FROM keysets")}
    assert (ks[-1]["site_id"], ks[-2]["site_id"], ks[2]["site_id"]) == (-1, -2, 2)
    assert ks[2]["allowed_sites"] is None, "the fallback publisher keyset has allowed_sites null"
    site999 = [k for k in ks.values() if k["site_id"] == 999 and k["is_default"] and k["enabled"]]
    assert len(site999) == 1 and site999[0]["keyset_id"] == 3 and site999[0]["allowed_sites"] is None, site999


def test_keypair_per_site(operator):
    a, b = operator.need("keypair"), operator.need("mobile_keypair")
    assert a.subscription_id != b.subscription_id and a.public_key != b.public_key
    assert b.site_id == operator.need_site("mobile")["id"]
