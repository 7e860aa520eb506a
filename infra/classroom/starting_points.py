"""`classroom up --lab`: the lab's starting point in each student's namespace (both tenancies)."""
from __future__ import annotations

from infra import commands as core
from infra.catalog import Lab
from infra.classroom.record import ClassroomRecord
from infra.classroom.roster import Student
from infra.errors import LabsError

STARTING_POINT_PARALLEL = 8  # namespaces applied at once (each a `kubectl apply` against the API server)


def apply_starting_points(record: ClassroomRecord, students: list[Student], lab: Lab,
                          parallel: int | None = None) -> list[str]:
    """`classroom up --lab`: the lab's starting point (manifests/, retargeted by infra.manifests: no
    Namespace, the student's namespace and host names) in each student's namespace, a few at a time,
    with the instructor's kubeconfig of the cluster the student is on.

    Only where this lab's starting point is not there yet (a new student, or a new lab for the class):
    `classroom up` again (to add a student) never resets someone's work; `invoke lab reset --lab=...
    --student=<id>` does that for one student. Failures are reported together at the end, after the
    others are done; running the same command again retries them. Returns the students applied."""
    from concurrent.futures import ThreadPoolExecutor

    from infra.classroom.board import kubeconfig_for
    from infra.manifests import load_lab_objects, retarget

    if parallel is not None and parallel < 1:
        raise LabsError(f"--parallel must be 1 or more, got {parallel}")
    todo = [s for s in students if record.started.get(s.id) != lab.slug]
    if not todo:
        return []
    starting_point = load_lab_objects(lab, ("manifests",))
    skipped = retarget(starting_point, lab.namespace, todo[0].namespace).skipped
    if skipped:
        core.console.print(f"[yellow]{lab.id}: left out of every student's namespace (they live in another "
                           f"namespace of the lab): {', '.join(skipped)}[/yellow]", soft_wrap=True)

    def one(student: Student) -> str:
        result = retarget(starting_point, lab.namespace, student.namespace, student.id, record.base_domain)
        if result.objects:
            core.kubectl(["apply", "-f", "-"], kubeconfig_for(record, student), None, stdin=result.yaml)
        return ""

    def guarded(student: Student) -> str:
        try:
            return one(student)
        except LabsError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=min(parallel or STARTING_POINT_PARALLEL, len(todo))) as pool:
        errors = dict(zip([s.id for s in todo], pool.map(guarded, todo)))
    done = [sid for sid, error in errors.items() if not error]
    record.started.update({sid: lab.slug for sid in done})
    record.save()
    failed = {sid: error for sid, error in errors.items() if error}
    if done:
        core.console.print(f"{lab.id}: starting point applied in {len(done)} student namespace(s)")
    if failed:
        first = next(iter(failed))
        raise LabsError(f"{lab.id}: the starting point failed in {len(failed)} of {len(todo)} student namespaces "
                        f"({first}: {failed[first]}); run the same command again to retry them")
    return done
