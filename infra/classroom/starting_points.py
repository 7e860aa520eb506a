"""`classroom up --lab`: the lab's starting point in each student's namespace (both tenancies)."""
from __future__ import annotations

from infra import commands as core
from infra.catalog import Catalog, Lab
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
    --student=<id>` does that for one student. When the class moves on to another lab, the previous
    lab's objects (its starting point and solution, by name) leave each namespace first: they would
    otherwise pile up lab after lab until the quota refuses the next lab's pods, silently (a Deployment
    is accepted, its ReplicaSet gets no pod). Failures are reported together at the end, after the
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
    catalog = Catalog.load()
    earlier = {slug: (catalog.resolve(slug), load_lab_objects(catalog.resolve(slug), ("solution", "manifests")))
               for slug in {record.started.get(s.id) for s in todo} - {None, "", lab.slug}}
    if earlier:
        core.console.print(f"{lab.id}: removing the objects of {', '.join(sorted(earlier))} from the students' "
                           "namespaces first (the class moves on; anything made under other names stays)")

    def one(student: Student) -> str:
        kubeconfig = kubeconfig_for(record, student)
        before = earlier.get(record.started.get(student.id, ""))
        if before:
            previous_lab, objects = before
            gone = retarget(objects, previous_lab.namespace, student.namespace, student.id, record.base_domain)
            if gone.objects:
                _delete_objects(gone.yaml, kubeconfig)
        result = retarget(starting_point, lab.namespace, student.namespace, student.id, record.base_domain)
        if result.objects:
            core.kubectl(["apply", "-f", "-"], kubeconfig, None, stdin=result.yaml)
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


GONE_WITH_THEIR_CRD = ("no matches for kind", "resource mapping not found", "ensure CRDs are installed first")


def _delete_objects(manifests: str, kubeconfig: str) -> None:
    """`kubectl delete` of these objects, where kinds whose CRD went with a layer count as deleted
    (their objects went with the CRD); any other failure is one line."""
    done = core.kubectl(["delete", "-f", "-", "--ignore-not-found", "--wait=false"], kubeconfig, None,
                        check=False, stdin=manifests)
    errors = [line for line in (done.stderr or "").splitlines()
              if line.strip() and not any(mark in line for mark in GONE_WITH_THEIR_CRD)]
    if done.returncode != 0 and errors:
        raise LabsError(f"`kubectl delete` of the previous lab's objects failed: {errors[-1]}")
