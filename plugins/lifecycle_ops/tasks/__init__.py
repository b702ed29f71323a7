"""Task bodies of the generated DAGs: context in, library call, alerts, a small dict out.

The DAG files in ``dags/`` only wire these (schedules, params, order); each function here is what one task
does, written once for every use case, and imports the heavy library modules inside its body.
"""
