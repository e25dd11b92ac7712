"""The pilot rehearsal behind `manage.py simulate_pilot`: simulated days of trading against the running platform
(web server, queue workers, django-q2 as real processes) and the sandbox emulators, then an audit of what each
side holds. A development tool like the sandboxes: product code never imports it.

    world.py     the sandboxes, the backends, the platform's processes
    clock.py     the accelerated clock (simulated minutes to real seconds)
    actors.py    the people: managers (amoCRM + widget over HTTP) and the ERP desk (MoySklad's control API)
    ledger.py    what the simulation did and therefore expects to find
    scenario.py  a day's plan from the seed, and playing it
    faults.py    the standard faults, scheduled within the days
    audit.py     lost, doubled, drift, "в минус", document totals, KPIs, slowest exchanges
    report.py    the report (text and JSON)
"""
