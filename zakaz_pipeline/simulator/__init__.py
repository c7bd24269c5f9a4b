"""A deterministic fake Qtickets account served over real HTTP: the tests' and the demo's shop.

A sibling of ``qtickets/`` (the real client), never imported by the pipeline. Rooms:
``shop`` the account's state and mutations; ``generator`` with ``halls``, ``buyers``,
``fates``, ``order_factory``, ``reference_data`` and ``rendering`` how one seed becomes
an account; ``server`` the socket and ``endpoints`` what each API path answers, with
``querying`` (where / orderBy / paging); ``faults`` seeded misbehaviour; ``live`` the shop
that keeps selling behind ``zakaz demo --ui``. What the warehouse must report for an
account (the ground truth) is reckoned by the tests, in ``zakaz_pipeline_tests/truth.py``.
"""
