"""Instructor-prepared classrooms: a roster of students, their tenancy on a shared cluster (or a
cluster each), their credentials, access cards and a progress board.

  roster.py       students from --students=N or a CSV roster, DNS-1123 ids (plain Python)
  objects.py      the tenancy's Kubernetes objects as plain manifests (plain Python)
  tenancy.py      the Pulumi ComponentResource `labs:classroom:Tenancy` (program path only)
  record.py       the classroom's files in the session folder (record, roster, download tokens)
  commands.py     `invoke classroom up|render|down`: the orchestration, over the modules below it
  starting_points.py  the lab's starting point in each student's namespace
  fanout.py       cluster tenancy: a cluster per student (or group), in parallel, bounded
  credentials.py  kubeconfigs with TokenRequest tokens bound to the session's expiry
  cards.py, serve.py, board.py: access cards, the kubeconfig download server, the progress board
  cli.py          the invoke tasks (tasks.py adds the collection)

No module here imports commands.py (it sits above them all; cli.py calls it).
Nothing here imports Pulumi, the Kubernetes client or segno at package import time.
"""
