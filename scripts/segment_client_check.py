#!/usr/bin/env python3
"""Sends events to a running embudo with Segment's own Python library (segment-analytics-python),
its host pointed at embudo, then reads the profiles back through the management API and checks
them. A manual end-to-end check of Segment compatibility (issue 2), not part of `cargo test`.

Usage:
  pip install segment-analytics-python
  embudo serve   # prints the write key and admin token on first start
  python3 scripts/segment_client_check.py --url http://127.0.0.1:8080 --write-key wk_... --admin-token at_...
Exit status 0 when every check holds; each failed check is printed.
"""
import argparse
import json
import sys
import time
import urllib.request
import uuid

import segment.analytics as analytics


def get(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def lookup(base, token, query):
    """The one profile a `?user_id=` / `?anonymous_id=` / `?email=` lookup finds, or None."""
    items = get(f"{base}/profiles?{query}", token)["items"]
    return items[0] if items else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--write-key", required=True)
    ap.add_argument("--admin-token", required=True)
    ap.add_argument("--gzip", action="store_true", help="let the library gzip its batches")
    a = ap.parse_args()

    errors = []
    analytics.write_key = a.write_key
    analytics.host = a.url
    analytics.gzip = a.gzip
    analytics.sync_mode = True  # each call is one request, answered before the next
    analytics.on_error = lambda error, items: errors.append(f"{error} ({len(items)} messages)")

    run = uuid.uuid4().hex[:8]
    user, anon = f"ana-{run}", f"anon-{run}"
    email = f"ana-{run}@example.com"
    # Anonymous browsing first: a blog page and two products of one category.
    analytics.page(anonymous_id=anon, category="blog", name="Guía de zapatillas",
                   properties={"path": "/blog/guia-zapatillas", "url": f"{a.url}/blog/guia-zapatillas"})
    for product in ("zap-1", "zap-2"):
        analytics.track(anonymous_id=anon, event="Product Viewed",
                        properties={"product_id": product, "category": "zapatillas", "price": 80})
    # Then the person signs up: identify links the anonymous history to the known user.
    analytics.identify(user_id=user, anonymous_id=anon,
                       traits={"email": email, "name": "Ana", "plan": "newsletter"})
    analytics.track(user_id=user, event="Product Added",
                    properties={"product_id": "zap-2", "category": "zapatillas", "price": 80, "quantity": 1})
    analytics.track(user_id=user, event="Order Completed",
                    properties={"order_id": f"o-{run}", "total": 80, "currency": "EUR",
                                "products": [{"product_id": "zap-2", "sku": "ZAP-2", "category": "zapatillas",
                                              "price": 80, "quantity": 1}]})
    analytics.flush()
    failures = [f"the library reported an error: {e}" for e in errors]

    base = f"{a.url}/api/v1"
    profile = None
    for _ in range(50):  # profile processing runs beside the server; give it a moment
        profile = lookup(base, a.admin_token, f"user_id={user}")
        if profile and profile["aggregates"]["orders"] >= 1:
            break
        time.sleep(0.1)
    if profile is None:
        failures.append(f"no profile for user_id {user}")
    else:
        by_anon = lookup(base, a.admin_token, f"anonymous_id={anon}")
        by_email = lookup(base, a.admin_token, f"email={email}")
        if (by_anon or {}).get("id") != profile["id"] or (by_email or {}).get("id") != profile["id"]:
            failures.append("anonymous id, user id and e-mail do not resolve to one profile")
        traits = profile.get("traits", {})
        if traits.get("name") != "Ana" or traits.get("plan") != "newsletter":
            failures.append(f"trait name not kept: {traits}")
        print(json.dumps(profile, indent=2, ensure_ascii=False))
        orders = get(f"{base}/profiles/{profile['id']}/orders", a.admin_token)
        print(json.dumps(orders, indent=2, ensure_ascii=False))
        events = get(f"{base}/profiles/{profile['id']}/events", a.admin_token)
        n_events = len(events["items"] if isinstance(events, dict) else events)
        if n_events != 6:
            failures.append(f"expected the 6 events sent in the profile, got {n_events}")
        phase = get(f"{base}/profiles/{profile['id']}/phase", a.admin_token)
        print(json.dumps(phase, indent=2, ensure_ascii=False))
    for failure in failures:
        print("FAILED:", failure)
    print("ok" if not failures else f"{len(failures)} checks failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
