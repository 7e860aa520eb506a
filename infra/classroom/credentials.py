"""Students' kubeconfigs: a ServiceAccount token from the TokenRequest API, bound to the session's expiry.

After `classroom up`, for each student: POST .../namespaces/<ns>/serviceaccounts/student/token with
`expirationSeconds` = the time left until the session's expiry (infra.sessions), through the official
Kubernetes client and the instructor's kubeconfig. The kubeconfig written for the student holds that
token, the cluster's CA and the API server, with the student's namespace as the context's default;
it is written 0600 (`write_private`) under `<session folder>/students/<id>/kubeconfig`.

Tokens are bound to nothing but time (no Secret object, nothing in the Pulumi state): `classroom down`
deletes the ServiceAccounts, which revokes them at once. The API server may issue a token shorter than asked
(its maximum token lifetime): `classroom up` then says when the kubeconfigs stop working. A token is never
printed or logged: errors name the student and the HTTP status, never a response body.
"""
from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from infra import paths
from infra.classroom.objects import SERVICE_ACCOUNT
from infra.classroom.roster import Student
from infra.errors import LabsError

MIN_SECONDS = 600  # the API server refuses shorter tokens
PARALLEL = 16


def students_dir(session: str) -> Path:
    return paths.session_dir(session) / "students"


def student_kubeconfig(session: str, student: str) -> Path:
    return students_dir(session) / student / "kubeconfig"


@dataclass(frozen=True)
class ClusterAccess:
    """Where students reach the cluster: what goes in their kubeconfig besides the token."""

    name: str
    server: str
    ca_data: str  # base64 PEM ("" when the instructor's kubeconfig has none)
    tls_server_name: str = ""  # the name the certificate was made for, when `server` is another address


def cluster_access(kubeconfig: str | Path, context: str | None = None, server: str | None = None) -> ClusterAccess:
    """The API server and CA of `context` (default: the current one) in the instructor's kubeconfig;
    `server` overrides the address (e.g. the instructor's LAN address for a kind cluster)."""
    try:
        config = yaml.safe_load(Path(kubeconfig).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LabsError(f"cannot read the session kubeconfig {kubeconfig}: {exc}") from None
    wanted = context or config.get("current-context")
    ctx = next((c.get("context") or {} for c in config.get("contexts") or [] if c.get("name") == wanted), None)
    if ctx is None:
        raise LabsError(f"{kubeconfig}: no context '{wanted}': run `invoke classroom up` again")
    cluster = next((c.get("cluster") or {} for c in config.get("clusters") or [] if c.get("name") == ctx.get("cluster")), {})
    ca = cluster.get("certificate-authority-data", "")
    if not ca and cluster.get("certificate-authority"):
        # As kubectl does: a relative path is relative to the kubeconfig's folder, not to where we run.
        ca_file = Path(kubeconfig).parent / cluster["certificate-authority"]
        try:
            ca = base64.b64encode(ca_file.read_bytes()).decode()
        except OSError as exc:
            raise LabsError(f"{kubeconfig}: cannot read the cluster's certificate-authority {ca_file} "
                            f"({exc.strerror}): put the file back or embed it (certificate-authority-data)") from None
    own = cluster.get("server")
    if not own:
        raise LabsError(f"{kubeconfig}: the cluster of context '{wanted}' has no server address")
    if server and not server.startswith("https://"):
        raise LabsError(f"--server must be an https:// URL (e.g. https://192.168.1.10:6443), got '{server}'")
    from urllib.parse import urlsplit

    original = urlsplit(own).hostname or ""
    renamed = bool(server) and urlsplit(server).hostname != original
    return ClusterAccess(name=str(ctx.get("cluster") or "cluster"), server=server or own, ca_data=ca,
                         tls_server_name=original if renamed else "")


def expiration_seconds(expires: datetime | None, now: datetime | None = None) -> int:
    """Seconds from now to the session's expiry; a session already past it issues nothing."""
    if expires is None:
        raise LabsError("the session has no readable expiry (session.json): "
                        "`invoke session extend --hours=N` sets one")
    left = int((expires - (now or datetime.now(timezone.utc))).total_seconds())
    if left <= 0:
        raise LabsError(f"the session expired at {expires.isoformat()}: no token can outlive it; "
                        "`invoke session extend --hours=N` first")
    return max(left, MIN_SECONDS)


def kubeconfig_text(access: ClusterAccess, student: Student, token: str) -> str:
    user, context = f"{student.id}", f"{student.id}@{access.name}"
    cluster = {"server": access.server}
    if access.ca_data:
        cluster["certificate-authority-data"] = access.ca_data
    if access.tls_server_name:
        cluster["tls-server-name"] = access.tls_server_name
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": access.name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": access.name, "user": user,
                                                    "namespace": student.namespace}}],
    }, sort_keys=False)


def request_token(core_api, student: Student, seconds: int) -> tuple[str, str]:
    """(token, expiration timestamp) from the TokenRequest API; LabsError without the response body."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    body = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds))
    try:
        answer = core_api.create_namespaced_service_account_token(SERVICE_ACCOUNT, student.namespace, body)
    except ApiException as exc:
        raise LabsError(f"TokenRequest for {student.namespace}/{SERVICE_ACCOUNT} answered {exc.status} "
                        f"{exc.reason}: is the classroom up? (`invoke classroom status`)") from None
    expiry = answer.status.expiration_timestamp
    return answer.status.token, expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry)


def token_claims(token: str) -> dict:
    """The claims of a ServiceAccount token (a JWT), read without checking its signature: only to
    decide whether a kubeconfig we wrote is still good; the API server is the one that verifies it."""
    import json

    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def still_valid(file: Path, access: ClusterAccess, student: Student, live_uid: str | None, expires: datetime,
                slack: timedelta = timedelta(minutes=5)) -> bool:
    """Whether the student's kubeconfig already says what a new one would: the same API server and CA,
    a token of their ServiceAccount as it is now (same uid: a re-created account voids older tokens)
    that lasts until the session's expiry. `classroom up` again then leaves it as it is."""
    try:
        config = yaml.safe_load(file.read_text()) or {}
        cluster = config["clusters"][0]["cluster"]
        token = config["users"][0]["user"]["token"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return False
    claims = token_claims(token)
    account = (claims.get("kubernetes.io") or {}).get("serviceaccount") or {}
    until = claims.get("exp")
    return (cluster.get("server") == access.server
            and cluster.get("certificate-authority-data", "") == access.ca_data
            and cluster.get("tls-server-name", "") == access.tls_server_name
            and (claims.get("kubernetes.io") or {}).get("namespace") == student.namespace
            and live_uid is not None and account.get("uid") == live_uid
            and isinstance(until, (int, float)) and until >= (expires - slack).timestamp())


def live_accounts(core_api) -> dict[str, str]:
    """namespace -> uid of every students' ServiceAccount, in one request."""
    from kubernetes.client.rest import ApiException

    try:
        found = core_api.list_service_account_for_all_namespaces(field_selector=f"metadata.name={SERVICE_ACCOUNT}")
    except ApiException as exc:
        raise LabsError(f"listing the students' ServiceAccounts answered {exc.status} {exc.reason}: "
                        "is the classroom up? (`invoke classroom status`)") from None
    return {account.metadata.namespace: account.metadata.uid for account in found.items}


def issue_kubeconfigs(session: str, students: list[Student], kubeconfig: str | Path, expires: datetime,
                      server: str | None = None, context: str | None = None,
                      now: datetime | None = None) -> dict[str, Path]:
    """One kubeconfig per student (in parallel, bounded); returns their paths by student id.

    A student whose kubeconfig is still valid (`still_valid`) keeps it: adding a student to the class
    re-issues nobody else's token. After `session extend`, every token is re-issued to the new expiry."""
    from kubernetes import client, config
    from infra.paths import write_private

    seconds = expiration_seconds(expires, now)
    access = cluster_access(kubeconfig, context, server)
    api_client = config.new_client_from_config(config_file=str(kubeconfig), context=context)
    core_api = client.CoreV1Api(api_client)
    live = live_accounts(core_api)
    kept = [s for s in students if still_valid(student_kubeconfig(session, s.id), access, s, live.get(s.namespace), expires)]

    def issue(student: Student) -> tuple[str, Path, str]:
        token, until = request_token(core_api, student, seconds)
        path = write_private(student_kubeconfig(session, student.id), kubeconfig_text(access, student, token))
        return student.id, path, until

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        issued = list(pool.map(issue, [s for s in students if s not in kept]))
    issued += [(s.id, student_kubeconfig(session, s.id), "") for s in kept]
    earliest = shortened([until for _, _, until in issued if until], expires)
    if earliest is not None:
        from infra.commands import console

        console.print(f"[yellow]note: the API server issued shorter tokens than asked (its maximum token lifetime): "
                      f"the students' kubeconfigs stop working at {earliest.isoformat()}, before the session's expiry "
                      f"({expires.isoformat()}); run `invoke classroom up` again before then to re-issue them[/yellow]",
                      soft_wrap=True)
    return {student_id: path for student_id, path, _ in issued}


def shortened(expiries: list[str], expires: datetime, slack: timedelta = timedelta(minutes=5)) -> datetime | None:
    """The earliest of the tokens' expirations (TokenRequest status) when it comes before the session's
    expiry: the API server may issue a token shorter than asked (--service-account-max-token-expiration)."""
    earliest = None
    for text in expiries:
        try:
            when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            continue
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        earliest = when if earliest is None else min(earliest, when)
    return earliest if earliest is not None and earliest < expires - slack else None
