"""The worker side: everything that runs in the processes that execute course or student code.

A worker imports torch once and forks a child per submission (``server``); the child imports the
code statement by statement (``loader``), builds the course's inputs (``cases``), runs the probes
(``harness``, ``gradients``) and sends back plain JSON (``encoding``). Nothing here judges, and
nothing here is imported by the grading process, which never imports torch.
"""
