#!/usr/bin/env python3
"""Conformance check: drive three popular Python Jenkins clients, unmodified,
against a running `jrun sandbox` (started by run.sh with sandbox.yaml).

The clients are python-jenkins, jenkinsapi and jenkinsflow (exact versions
pinned in requirements.txt).  Nothing in them is patched; the only instrumentation is a
wrapper around requests.Session.send that records every HTTP exchange so a
failing check can print the exact requests and the answers they got.

Prints one PASS/FAIL line per check and finally
    conformance: N passed, M failed
Exit status: 0 if every check passed, 1 otherwise, 2 on bad usage.
"""

import argparse
import contextlib
import io
import signal
import sys
import time
import traceback

import requests

OVERALL_TIMEOUT = 120.0  # seconds for the whole script
CHECK_TIMEOUT = 30.0     # seconds for one check
POLL_INTERVAL = 0.2      # seconds between two polls of our own loops

# Must match tests/conformance/sandbox.yaml.
USER = "alice"
PASSWORD = "alice-password"
TOKEN = "11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

# A string parameter value that is hard to carry through query strings, form
# bodies, JSON and the api/python format: spaces, & = + % # ?, both quote
# kinds, a backslash, non-ASCII (Latin-1, BMP, astral).  It deliberately
# contains no "True"/"False"/"None": jenkinsapi's api/python fallback parser
# rewrites those words everywhere in the text, even inside strings.
TRICKY = "h\u00e9llo w\u00f6rld & a=b+c 100% #x ?y \"double\" 'single' back\\slash \u2603 \u65e5\u672c \U0001F680"

# What we send (all strings, as a user would) ...
SENT_PARAMS = {"GREETING": TRICKY, "FLAG": "true", "COLOR": "green"}
# ... and what Jenkins reports back in the build's ParametersAction
# (a BooleanParameterValue's value is a JSON/Python boolean).
EXPECTED_PARAMS = {"GREETING": TRICKY, "FLAG": True, "COLOR": "green"}


# --------------------------------------------------------------------------
# HTTP exchange recorder (instrumentation only; the clients are not touched)

_EXCHANGES = []
_orig_send = requests.Session.send


def _short(text, limit=300):
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


def _recording_send(self, request, **kwargs):
    entry = {
        "method": request.method,
        "url": request.url,
        "req_headers": {k: v for k, v in request.headers.items()
                        if k.lower() not in ("user-agent", "accept-encoding",
                                             "accept", "connection")},
        "body": request.body,
    }
    _EXCHANGES.append(entry)
    try:
        resp = _orig_send(self, request, **kwargs)
    except Exception as exc:  # noqa: BLE001 - recorded, then re-raised
        entry["error"] = repr(exc)
        raise
    entry["status"] = resp.status_code
    entry["resp_headers"] = {k: v for k, v in resp.headers.items()
                             if k.lower() in ("location", "content-type",
                                              "x-jenkins", "set-cookie",
                                              "www-authenticate")}
    if kwargs.get("stream"):
        entry["resp_body"] = "(streamed)"
    else:
        try:
            entry["resp_body"] = resp.text
        except Exception as exc:  # noqa: BLE001
            entry["resp_body"] = "(unreadable: %r)" % exc
    return resp


requests.Session.send = _recording_send


def _redact(headers):
    out = {}
    for k, v in headers.items():
        if k.lower() == "authorization":
            v = v.split(" ", 1)[0] + " ***"
        out[k] = v
    return out


def dump_exchanges(start, limit=25):
    exchanges = _EXCHANGES[start:]
    if not exchanges:
        print("    (no HTTP request was made)")
        return
    skipped = max(0, len(exchanges) - limit)
    if skipped:
        print("    ... %d earlier requests not shown" % skipped)
    for e in exchanges[skipped:]:
        print("    > %s %s" % (e["method"], e["url"]))
        if e["req_headers"]:
            print("      headers: %s" % _redact(e["req_headers"]))
        if e["body"]:
            body = e["body"]
            if isinstance(body, bytes):
                body = body.decode("utf-8", "replace")
            print("      body: %s" % _short(body))
        if "error" in e:
            print("    < error: %s" % e["error"])
            continue
        print("    < %s %s" % (e.get("status"), e.get("resp_headers", {})))
        if e.get("resp_body"):
            print("      %s" % _short(e["resp_body"]))


# --------------------------------------------------------------------------
# helpers

class CheckFailed(Exception):
    pass


class CheckTimeout(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def _on_alarm(signum, frame):
    raise CheckTimeout("check timed out")


def poll_until(what, fetch, done, timeout):
    """Call fetch() every POLL_INTERVAL until done(value); return value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise CheckFailed("%s: not reached within %.0fs; last answer: %s"
                              % (what, timeout, _short(repr(value), 600)))
        time.sleep(POLL_INTERVAL)


def params_of(build_info):
    """Parameters of a build, from actions -> hudson.model.ParametersAction,
    as a dict; None when the build has no ParametersAction."""
    for action in build_info.get("actions") or []:
        if isinstance(action, dict) and action.get("_class") == "hudson.model.ParametersAction":
            params = action.get("parameters") or []
            names = [p.get("name") for p in params]
            expect(len(names) == len(set(names)),
                   "ParametersAction lists a parameter twice: %r" % names)
            return {p.get("name"): p.get("value") for p in params}
    return None


# --------------------------------------------------------------------------
# python-jenkins flow

def python_jenkins_flow(url, secret, job, parameters, expected_result,
                        expected_params, crumb_required=False):
    import jenkins

    server = jenkins.Jenkins(url, username=USER, password=secret, timeout=10)

    me = server.get_whoami()
    expect(me.get("id") == USER, "get_whoami(): id is %r, expected %r" % (me.get("id"), USER))
    if crumb_required:
        expect(isinstance(server.crumb, dict) and server.crumb.get("crumb")
               and server.crumb.get("crumbRequestField"),
               "no crumb obtained from /crumbIssuer/api/json (csrf: true): %r" % (server.crumb,))

    version = server.get_version()
    expect(version, "get_version(): empty X-Jenkins header")

    info = server.get_job_info(job)
    expect(info.get("fullName") == job,
           "get_job_info(%r): fullName is %r" % (job, info.get("fullName")))
    expect(info.get("name") == job.split("/")[-1],
           "get_job_info(%r): name is %r" % (job, info.get("name")))
    next_number = info.get("nextBuildNumber")
    expect(isinstance(next_number, int),
           "get_job_info(%r): nextBuildNumber is %r" % (job, next_number))

    queue_id = server.build_job(job, parameters)
    expect(isinstance(queue_id, int) and queue_id > 0,
           "build_job returned queue id %r" % (queue_id,))

    item = poll_until(
        "queue item %d gets 'executable'" % queue_id,
        lambda: server.get_queue_item(queue_id),
        lambda it: bool(it.get("executable")),
        timeout=15)
    expect(item.get("id") == queue_id,
           "queue item id is %r, expected %r" % (item.get("id"), queue_id))
    number = item["executable"].get("number")
    expect(isinstance(number, int),
           "queue item executable.number is %r" % (number,))
    expect(number == next_number,
           "build number %r, but get_job_info said nextBuildNumber %r" % (number, next_number))

    build = poll_until(
        "build %s #%s stops building" % (job, number),
        lambda: server.get_build_info(job, number),
        lambda b: b.get("building") is False,
        timeout=15)
    expect(build.get("result") == expected_result,
           "result is %r, expected %r" % (build.get("result"), expected_result))
    expect(build.get("number") == number,
           "build number is %r, queue item said %r" % (build.get("number"), number))
    expect(build.get("queueId") == queue_id,
           "build queueId is %r, build_job returned %r" % (build.get("queueId"), queue_id))
    got = params_of(build)
    if expected_params is None:
        expect(not got, "build has parameters %r, expected none" % (got,))
    else:
        expect(got == expected_params,
               "build parameters are %r, expected %r" % (got, expected_params))
    return "%s #%d (queue %d) %s" % (job, number, queue_id, build.get("result"))


def check_pj_token_params(url):
    return python_jenkins_flow(url, TOKEN, "params", dict(SENT_PARAMS),
                               "SUCCESS", EXPECTED_PARAMS)


def check_pj_token_folder(url):
    return python_jenkins_flow(url, TOKEN, "team folder/sub job", None,
                               "UNSTABLE", None)


def check_pj_password_crumb(url):
    # The sandbox must really enforce the crumb for a password-authenticated
    # POST, or this check would not prove the crumb path works.
    resp = requests.post(url.rstrip("/") + "/job/plain/build",
                         auth=(USER, PASSWORD), timeout=10)
    expect(resp.status_code == 403,
           "POST /job/plain/build with a password and no crumb answered %d, "
           "expected 403 (csrf: true)" % resp.status_code)
    return python_jenkins_flow(url, PASSWORD, "plain", None, "SUCCESS", None,
                               crumb_required=True)


# --------------------------------------------------------------------------
# jenkinsapi flow

def jenkinsapi_flow(url, secret, job, build_params, expected_params):
    from jenkinsapi.jenkins import Jenkins

    server = Jenkins(url, USER, secret, use_crumb=True, timeout=10)
    version = server.version
    expect(version and version != "0.0",
           "Jenkins.version: no X-Jenkins header on GET %s" % url)

    jobobj = server.get_job(job)
    expect(jobobj.name == job, "get_job(%r).name is %r" % (job, jobobj.name))
    expect(jobobj.has_params() == bool(build_params),
           "get_job(%r).has_params() is %r" % (job, jobobj.has_params()))

    if build_params:
        qi = jobobj.invoke(build_params=dict(build_params), block=True, delay=POLL_INTERVAL)
    else:
        qi = jobobj.invoke(block=True, delay=POLL_INTERVAL)

    build = qi.get_build()
    status = build.get_status()
    expect(status == "SUCCESS", "get_status() is %r, expected 'SUCCESS'" % (status,))
    expect(build.get_number() == qi.get_build_number(),
           "build number %r, queue item says %r" % (build.get_number(), qi.get_build_number()))
    expect(build._data.get("queueId") == qi.queue_id,
           "build queueId %r, queue item id %r" % (build._data.get("queueId"), qi.queue_id))
    got = build.get_params()
    want = expected_params or {}
    expect(got == want, "get_params() is %r, expected %r" % (got, want))
    return "%s #%d (queue %d) %s" % (job, build.get_number(), qi.queue_id, status)


def check_ja_password_params(url):
    return jenkinsapi_flow(url, PASSWORD, "params", SENT_PARAMS, EXPECTED_PARAMS)


def check_ja_token_plain(url):
    return jenkinsapi_flow(url, TOKEN, "plain", None, None)


# Must match the `artifacts` job of sandbox.yaml: text files with their content,
# and a generated file whose byte i is i % 251.
ARTIFACT_TEXTS = {
    "out/build-info.json": '{"version": "1.2.3", "sha": "abc"}',
    "reports/my report \u00fc #1.txt": "tests: 117 passed",
}
ARTIFACT_GENERATED = {"dist/app.bin": 3 * 1024 * 1024 + 7}


def expected_artifact_bytes(relative_path):
    if relative_path in ARTIFACT_TEXTS:
        return ARTIFACT_TEXTS[relative_path].encode("utf-8")
    size = ARTIFACT_GENERATED[relative_path]
    period = bytes(range(251))
    return (period * (size // 251 + 1))[:size]


def check_ja_artifacts_saved(url):
    import os
    import tempfile

    from jenkinsapi.jenkins import Jenkins

    server = Jenkins(url, USER, TOKEN, timeout=10)
    build = server.get_job("artifacts").get_last_build()
    artifacts = list(build.get_artifacts())
    want = sorted(list(ARTIFACT_TEXTS) + list(ARTIFACT_GENERATED))
    got = sorted(a.relative_path for a in artifacts)
    expect(got == want, "get_artifacts() paths %r, expected %r" % (got, want))
    by_path = build.get_artifact_dict()
    expect(sorted(by_path) == want, "get_artifact_dict() keys %r" % sorted(by_path))
    with tempfile.TemporaryDirectory() as folder:
        for artifact in artifacts:
            saved = artifact.save_to_dir(folder)
            expect(os.path.basename(saved) == artifact.filename,
                   "save_to_dir wrote %r for %r" % (saved, artifact.filename))
            with open(saved, "rb") as f:
                data = f.read()
            expected = expected_artifact_bytes(artifact.relative_path)
            expect(data == expected,
                   "%s: saved %d bytes that differ from the %d archived"
                   % (artifact.relative_path, len(data), len(expected)))
        # A second save finds the local copy (its fingerprint is unknown: a 404, as on a
        # Jenkins whose builds do not record fingerprints) and keeps it.
        again = artifacts[0].save_to_dir(folder)
        expect(os.path.exists(again), "second save lost %r" % again)
    text = by_path["out/build-info.json"].get_data()
    expect(text == ARTIFACT_TEXTS["out/build-info.json"].encode(),
           "get_data() is %r" % text)
    return "%d artifacts of artifacts #%d saved byte for byte" % (
        len(artifacts), build.get_number())


# --------------------------------------------------------------------------
# jenkinsflow flows (its REST mode, jenkinsflow.jenkins_api.JenkinsApi)
#
# jenkinsflow follows its builds by polling the root with one tree, e.g.
# jobs[name,lastBuild[number,result,building],queueItem[why],jobs[...]], so
# it only sees them finish when nested jobs are written as Jenkins writes them.

FLOW_POLL_INTERVAL = 0.1


def builds_of(url, secret, job_path):
    """Every build of a job, oldest first, read with plain requests."""
    resp = requests.get(
        url.rstrip("/") + job_path + "api/json",
        params={"tree": "allBuilds[number,result,building,timestamp,duration,"
                        "actions[parameters[name,value]]]"},
        auth=(USER, secret), timeout=10)
    expect(resp.status_code == 200, "GET %s answered %d" % (job_path, resp.status_code))
    return list(reversed(resp.json().get("allBuilds") or []))


def run_flow(flow):
    """Runs flow() with jenkinsflow's progress report captured; returns the
    report, or raises CheckFailed with it when the flow raised."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            flow()
        except Exception as exc:
            exc.flow_report = out.getvalue()
            raise
    return out.getvalue()


def check_jf_serial_with_parallel(url):
    from jenkinsflow.flow import serial
    from jenkinsflow.jenkins_api import JenkinsApi

    api = JenkinsApi(url, username=USER, password=PASSWORD)

    def flow():
        with serial(api, timeout=25, report_interval=1,
                    poll_interval=FLOW_POLL_INTERVAL) as ctrl:
            ctrl.invoke("flow-first", GREETING=TRICKY)
            with ctrl.parallel(timeout=20) as par:
                par.invoke("flow-left")
                par.invoke("flows/right")
            ctrl.invoke("flow-last")

    try:
        run_flow(flow)
    except Exception as exc:
        raise CheckFailed("the flow raised %s: %s\n    jenkinsflow said:\n%s"
                          % (type(exc).__name__, exc,
                             _short(getattr(exc, "flow_report", ""), 1500)))
    ran = {}
    for name, path in [("first", "/job/flow-first/"), ("left", "/job/flow-left/"),
                       ("right", "/job/flows/job/right/"), ("last", "/job/flow-last/")]:
        builds = builds_of(url, PASSWORD, path)
        expect(len(builds) == 1, "%s ran %d times, expected once" % (path, len(builds)))
        build = builds[0]
        expect(build.get("building") is False and build.get("result") == "SUCCESS",
               "%s #1 is %r" % (path, build))
        ran[name] = (build["timestamp"], build["timestamp"] + build["duration"])
    expect(params_of(builds_of(url, PASSWORD, "/job/flow-first/")[0]) == {"GREETING": TRICKY},
           "flow-first did not get GREETING")
    expect(ran["first"][1] <= min(ran["left"][0], ran["right"][0]),
           "the parallel part started before flow-first ended: %r" % ran)
    expect(ran["left"][0] < ran["right"][1] and ran["right"][0] < ran["left"][1],
           "flow-left and flows/right did not run at the same time: %r" % ran)
    expect(max(ran["left"][1], ran["right"][1]) <= ran["last"][0],
           "flow-last started before the parallel part ended: %r" % ran)
    return "first, then left || flows/right, then last: all SUCCESS"


def check_jf_failing_job(url):
    from jenkinsflow.flow import serial
    from jenkinsflow.flow_exceptions import FailedChildJobException
    from jenkinsflow.jenkins_api import JenkinsApi

    api = JenkinsApi(url, username=USER, password=TOKEN)

    def flow():
        with serial(api, timeout=20, report_interval=1,
                    poll_interval=FLOW_POLL_INTERVAL) as ctrl:
            ctrl.invoke("flow-fail")
            ctrl.invoke("flow-after")

    try:
        report = run_flow(flow)
    except FailedChildJobException as exc:
        expect("flow-fail" in str(exc), "the failure names another job: %s" % exc)
        report = exc.flow_report
    except Exception as exc:
        raise CheckFailed("the flow raised %s, expected FailedChildJobException: %s"
                          "\n    jenkinsflow said:\n%s"
                          % (type(exc).__name__, exc,
                             _short(getattr(exc, "flow_report", ""), 1500)))
    else:
        raise CheckFailed("the flow passed although flow-fail failed; jenkinsflow said:\n%s"
                          % _short(report, 1500))
    failed = builds_of(url, TOKEN, "/job/flow-fail/")
    expect(len(failed) == 1 and failed[0].get("result") == "FAILURE",
           "flow-fail builds: %r" % failed)
    expect("FAILURE" in report, "jenkinsflow never reported the FAILURE:\n%s"
           % _short(report, 1500))
    after = builds_of(url, TOKEN, "/job/flow-after/")
    expect(after == [], "flow-after ran after the failure: %r" % after)
    return "flow-fail FAILURE raised FailedChildJobException; flow-after not run"


CHECKS = [
    ("python-jenkins: API token, parameterized job 'params'", check_pj_token_params),
    ("python-jenkins: API token, folder job 'team folder/sub job'", check_pj_token_folder),
    ("python-jenkins: password + crumb, job 'plain'", check_pj_password_crumb),
    ("jenkinsapi: password + crumb, invoke 'params' with parameters", check_ja_password_params),
    ("jenkinsapi: API token, invoke 'plain'", check_ja_token_plain),
    ("jenkinsapi: API token, get_artifacts() and save_to_dir()", check_ja_artifacts_saved),
    ("jenkinsflow: password + crumb, serial flow with a parallel part", check_jf_serial_with_parallel),
    ("jenkinsflow: API token, a failing job fails the flow", check_jf_failing_job),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="sandbox base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--only", action="append", type=int, metavar="N",
                        help="run only check N (1-based; may repeat)")
    args = parser.parse_args()

    signal.signal(signal.SIGALRM, _on_alarm)
    started = time.monotonic()
    passed = failed = 0
    for index, (title, func) in enumerate(CHECKS, 1):
        if args.only and index not in args.only:
            continue
        label = "[%d] %s" % (index, title)
        remaining = OVERALL_TIMEOUT - (time.monotonic() - started)
        if remaining < 1:
            print("FAIL %s: not run, overall timeout of %.0fs spent" % (label, OVERALL_TIMEOUT))
            failed += 1
            continue
        mark = len(_EXCHANGES)
        t0 = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, min(CHECK_TIMEOUT, remaining))
        try:
            detail = func(args.url)
            signal.setitimer(signal.ITIMER_REAL, 0)
            print("PASS %s: %s (%.1fs)" % (label, detail, time.monotonic() - t0))
            passed += 1
        except BaseException as exc:  # noqa: BLE001 - report every failure
            signal.setitimer(signal.ITIMER_REAL, 0)
            if isinstance(exc, KeyboardInterrupt):
                raise
            failed += 1
            if isinstance(exc, (CheckFailed, CheckTimeout)):
                reason = str(exc)
            else:
                reason = "%s: %s" % (type(exc).__name__, exc)
            print("FAIL %s: %s (%.1fs)" % (label, _short(reason, 800), time.monotonic() - t0))
            if not isinstance(exc, CheckFailed):
                tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
                print("    " + "".join(tb[-6:]).rstrip().replace("\n", "\n    "))
            print("    HTTP exchanges of this check (latest last):")
            dump_exchanges(mark)
        sys.stdout.flush()
    print("conformance: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
