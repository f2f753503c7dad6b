"""Drives a running Dialogic server with the official IBM Watson Python SDK (ibm-watson 11.x).

Usage: python ibm_sdk_check.py BASE_URL [API_KEY]
Exits non-zero with a clear message on the first failed expectation.
"""
import sys

from ibm_cloud_sdk_core import ApiException
from ibm_cloud_sdk_core.authenticators import BasicAuthenticator, NoAuthAuthenticator
from ibm_watson import AssistantV2

VERSION = "2024-08-25"
ASSISTANT = "demo"


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def texts(output):
    return [g.get("text", "") for g in output.get("generic", []) if g.get("response_type") == "text"]


def run(base_url, authenticator, label):
    assistant = AssistantV2(version=VERSION, authenticator=authenticator)
    assistant.set_service_url(base_url)
    for env in ("draft", "live"):
        sid = assistant.create_session(ASSISTANT, env).get_result()["session_id"]
        check(isinstance(sid, str) and len(sid) > 0, f"{label}/{env}: create_session returns a session_id")

        first = assistant.message(ASSISTANT, env, sid, input={"text": ""}).get_result()
        check(len(texts(first["output"])) > 0, f"{label}/{env}: welcome message has text")

        resp = assistant.message(
            ASSISTANT, env, sid,
            input={"text": "hello", "options": {"return_context": True}},
            user_id="sdk-user",
        ).get_result()
        check(len(texts(resp["output"])) > 0, f"{label}/{env}: stateful message answers with text")
        check("context" in resp, f"{label}/{env}: return_context returns context")
        check(resp["context"]["global"]["system"]["turn_count"] >= 2,
              f"{label}/{env}: turn_count counts turns")
        check(resp.get("user_id") == "sdk-user", f"{label}/{env}: user_id echoed")

        plain = assistant.message(ASSISTANT, env, sid, input={"text": "help"}).get_result()
        check("context" not in plain, f"{label}/{env}: no context without return_context")

        sl = assistant.message_stateless(ASSISTANT, env, input={"text": "hello"}).get_result()
        check(len(texts(sl["output"])) > 0, f"{label}/{env}: stateless message answers")
        ctx = sl["context"]
        check(bool(ctx["global"].get("session_id")), f"{label}/{env}: stateless context has a session_id")
        sl2 = assistant.message_stateless(ASSISTANT, env, input={"text": "help"}, context=ctx).get_result()
        check(sl2["context"]["global"]["session_id"] == ctx["global"]["session_id"],
              f"{label}/{env}: stateless conversation continues with the same session_id")
        check(sl2["context"]["global"]["system"]["turn_count"] == ctx["global"]["system"]["turn_count"] + 1,
              f"{label}/{env}: stateless turn_count advances")

        assistant.delete_session(ASSISTANT, env, sid)
        try:
            assistant.message(ASSISTANT, env, sid, input={"text": "hello"})
            check(False, f"{label}/{env}: message to a deleted session fails")
        except ApiException as e:
            check(e.code == 404 and e.message == "Invalid Session",
                  f"{label}/{env}: deleted session gives 404 Invalid Session (got {e.code} {e.message})")

    customer = f"sdk-customer-{label}"
    sid = assistant.create_session(ASSISTANT, "live").get_result()["session_id"]
    assistant.message(ASSISTANT, "live", sid, input={"text": "hello"},
                      headers={"X-Watson-Metadata": f"customer_id={customer}"})
    logs = assistant.list_logs(ASSISTANT, filter=f"customer_id::{customer}").get_result()
    check(len(logs["logs"]) >= 1, f"{label}: list_logs finds the customer's turn")
    check(logs["logs"][0]["request"]["input"]["text"] == "hello", f"{label}: the log holds the request")
    check(logs["logs"][0].get("customer_id") == customer, f"{label}: the log holds the customer_id")
    d = assistant.delete_user_data(customer)
    check(d.get_status_code() == 202, f"{label}: delete_user_data answers 202")
    logs = assistant.list_logs(ASSISTANT, filter=f"customer_id::{customer}").get_result()
    check(len(logs["logs"]) == 0, f"{label}: the customer's logs are gone")

    try:
        assistant.create_session("no-such-assistant", "live")
        check(False, f"{label}: unknown assistant fails")
    except ApiException as e:
        check(e.code == 404, f"{label}: unknown assistant gives 404 (got {e.code} {e.message})")


def main():
    base_url = sys.argv[1]
    api_key = sys.argv[2] if len(sys.argv) > 2 else None
    if api_key:
        run(base_url, BasicAuthenticator("apikey", api_key), "apikey")
        bad = AssistantV2(version=VERSION, authenticator=BasicAuthenticator("apikey", "wrong-key"))
        bad.set_service_url(base_url)
        try:
            bad.create_session(ASSISTANT, "live")
            check(False, "a wrong API key is refused")
        except ApiException as e:
            check(e.code == 401, f"a wrong API key gives 401 (got {e.code})")
    else:
        run(base_url, NoAuthAuthenticator(), "noauth")
    print("SDK CHECK PASSED")


if __name__ == "__main__":
    main()
