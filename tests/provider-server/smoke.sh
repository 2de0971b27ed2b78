#!/usr/bin/env bash
# Smoke test of the provider test server: every route, every documented
# error and every control feature, driven with curl.
#   tests/provider-server/smoke.sh [path/to/provider-server]
# Exits non-zero on the first failed check.
set -euo pipefail

BIN=${1:-build/provider-server}
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
        if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
                kill -TERM "$SERVER_PID"
                wait "$SERVER_PID" || true
        fi
        rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" --port 0 --port-file "$WORK/port" --missing-agent agt_gone \
        --missing-agent 404 --unlocked-agent 77 2>"$WORK/log" &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
B="http://127.0.0.1:$(cat "$WORK/port")"

fails=0
# expect STATUS BODY_SUBSTRING curl-args...
expect() {
        local want=$1 body=$2 got
        shift 2
        got=$(curl -s -o "$WORK/body" -w '%{http_code}' "$@" || true)
        if [ "$got" != "$want" ] ||
                { [ -n "$body" ] && ! grep -qF -- "$body" "$WORK/body"; }; then
                echo "FAIL: curl $* -> $got $(cat "$WORK/body") (want $want '$body')"
                fails=$((fails + 1))
        fi
}

VK=(-H 'x-api-key: test-vectara-key')
VT=(-H 'Authorization: Bearer test-vectara-token')
VS=$B/vectara/v2/agents
CV=$B/convai/character/chatHistory/delete
CK=(-H 'CONVAI-API-KEY: test-convai-key')
AL=$B/algolia/agent-studio/1
AK=(-H 'x-algolia-application-id: TESTALGOLIAAPP' -H 'x-algolia-api-key: test-algolia-key')
AV=$B/avaamo/dashboard/agents
AT=(-H 'Access-Token: test-avaamo-token')

# Vectara
expect 204 "" -X DELETE "${VK[@]}" "$VS/agt_a/sessions/ase_1"
expect 404 session_not_found -X DELETE "${VK[@]}" "$VS/agt_a/sessions/ase_1"
expect 204 "" -X DELETE "${VT[@]}" "$VS/agt_a/sessions/ase_2"
expect 401 unauthorized -X DELETE "$VS/agt_a/sessions/ase_3"
expect 401 unauthorized -X DELETE -H 'x-api-key: nope' "$VS/agt_a/sessions/ase_3"
expect 404 agent_not_found -X DELETE "${VK[@]}" "$VS/agt_gone/sessions/ase_3"
expect 400 invalid_request -X DELETE "${VK[@]}" "$VS/bad/sessions/ase_3"
expect 400 invalid_request -X DELETE "${VK[@]}" "$VS/agt_a/sessions/ase_%2F"
expect 204 "" -X DELETE "${VK[@]}" "$VS/agt%5Fenc/sessions/ase_x%2D1"
expect 404 session_not_found -X DELETE "${VK[@]}" "$VS/agt_enc/sessions/ase_x-1"
expect 405 "method not allowed" -X PUT "${VK[@]}" "$VS/agt_a/sessions/ase_1"
# Session read: 404 once deleted, 200 before.
expect 404 session_not_found -X GET "${VK[@]}" "$VS/agt_a/sessions/ase_1"
expect 200 '"key":"ase_9"' -X GET "${VK[@]}" "$VS/agt_a/sessions/ase_9"
# Sticky deletes answer 204 and leave the session readable.
expect 200 sticky -X POST -d '{"deletes":"sticky"}' "$B/_control/data"
expect 204 "" -X DELETE "${VK[@]}" "$VS/agt_a/sessions/ase_9"
expect 200 '"key":"ase_9"' -X GET "${VK[@]}" "$VS/agt_a/sessions/ase_9"
expect 200 normal -X POST -d '{"deletes":"normal"}' "$B/_control/data"

# Convai
expect 200 "SUCCESSFULLY DELETED" -X POST "${CK[@]}" \
        -d '{"charID":"c","sessionIDs":["s1","s2"]}' "$CV"
expect 401 "Invalid API key provided." -X POST -d '{"charID":"c","sessionIDs":["s"]}' "$CV"
expect 400 ERROR -X POST "${CK[@]}" -d '{"charID":"c"}' "$CV"
expect 400 ERROR -X POST "${CK[@]}" -d 'nope' "$CV"
# The list reflects seeded sessions and deletes.
CL=$B/convai/character/chatHistory/list
expect 200 convai_sessions -X POST -d '{"convai_sessions":{"c":["s1","s3"]}}' "$B/_control/data"
expect 200 '[{"sessionID":"s1"' -X POST "${CK[@]}" -d '{"charID":"c","limit":"-1"}' "$CL"
expect 200 SUCCESSFULLY -X POST "${CK[@]}" -d '{"charID":"c","sessionIDs":["s1"]}' "$CV"
expect 200 '[{"sessionID":"s3"' -X POST "${CK[@]}" -d '{"charID":"c","limit":"-1"}' "$CL"

# Algolia
expect 204 "" -X DELETE "${AK[@]}" "$AL/user-data/user%40example.com"
# Users: seeded, read, one conversation deleted, messages deleted.
expect 200 algolia_users -X POST -d '{"algolia_users":{"u@x":{"conversations":[{"id":"c1","agentId":"ag","messages":[{"id":"m1"}]},{"id":"c2","agentId":"ag","messages":[{"id":"m2"}]}]}}}' "$B/_control/data"
expect 200 '"id":"c2"' -X GET "${AK[@]}" "$AL/user-data/u%40x"
expect 204 "" -X DELETE "${AK[@]}" "$AL/agents/ag/conversations/c1"
expect 204 "" -X DELETE "${AK[@]}" "$AL/user-data/u%40x"
expect 200 '{"conversations":[{"id":"c2","agentId":"ag","messages":[],' -X GET "${AK[@]}" "$AL/user-data/u%40x"
expect 200 '{"conversations":[],"memories":[]}' -X GET "${AK[@]}" "$AL/user-data/nobody"
expect 403 "Invalid Application-ID or API key" -X DELETE "$AL/user-data/u"
expect 204 "" -X DELETE "${AK[@]}" "$AL/agents/ag1/conversations"
expect 204 "" -X DELETE "${AK[@]}" "$AL/agents/ag1/conversations?startDate=2024-01-01&endDate=2024-02-29"
expect 422 '"loc":["query","startDate"]' -X DELETE "${AK[@]}" "$AL/agents/ag1/conversations?startDate="
expect 422 '"loc":["query","endDate"]' -X DELETE "${AK[@]}" "$AL/agents/ag1/conversations?endDate=2023-02-29"

# Avaamo
expect 200 '"success":true' -X POST "${AT[@]}" -d '{"data_types":["storage","js_errors"]}' "$AV/20123/clear_data.json"
expect 200 '"success":true' -X POST "${AT[@]}" -d '{"data_types":["storage_data","conversation_sessions"]}' "$AV/20123/clear_data.json"
expect 401 '"success":false' -X POST -d '{"data_types":["storage"]}' "$AV/20123/clear_data.json"
expect 404 "Agent not found" -X POST "${AT[@]}" -d '{"data_types":["storage"]}' "$AV/404/clear_data.json"
expect 200 "Agent must be locked for edit" -X POST "${AT[@]}" -d '{"data_types":["storage"]}' "$AV/77/clear_data.json"
expect 400 '"success":false' -X POST "${AT[@]}" -d '{"data_types":[]}' "$AV/20123/clear_data.json"

# Anything else
expect 404 "no such route" "$B/nowhere"
expect 200 '"ok":true' "$B/_control/health"

# State
expect 200 '"missing_agents":["agt_x"]' -X POST -d '{"missing_agents":["agt_x"]}' "$B/_control/state"
expect 404 agent_not_found -X DELETE "${VK[@]}" "$VS/agt_x/sessions/ase_1"
expect 200 '"deleted_sessions":0' -X DELETE "$B/_control/state"
expect 204 "" -X DELETE "${VK[@]}" "$VS/agt_a/sessions/ase_1"
expect 404 agent_not_found -X DELETE "${VK[@]}" "$VS/agt_gone/sessions/ase_1"

# Faults
expect 201 ids -X POST -d '{"provider":"vectara","status":429,"retry_after":"2","times":1}' "$B/_control/faults"
if ! curl -s -i -X DELETE "${VK[@]}" "$VS/agt_a/sessions/ase_9" | grep -qi '^Retry-After: 2'; then
        echo "FAIL: no Retry-After"; fails=$((fails + 1))
fi
expect 204 "" -X DELETE "${VK[@]}" "$VS/agt_a/sessions/ase_9"
expect 201 ids -X POST -d '{"provider":"convai","latency_ms":200,"times":1}' "$B/_control/faults"
t=$(curl -s -o /dev/null -w '%{time_total}' -X POST "${CK[@]}" -d '{"charID":"c","sessionIDs":["s"]}' "$CV")
if ! awk -v t="$t" 'BEGIN { exit !(t >= 0.19 && t < 1.0) }'; then
        echo "FAIL: latency 200 ms took $t s"; fails=$((fails + 1))
fi
expect 201 ids -X POST -d '{"provider":"algolia","hang":true,"times":1}' "$B/_control/faults"
expect 000 "" --max-time 0.5 -X DELETE "${AK[@]}" "$AL/user-data/u"
expect 201 ids -X POST -d '{"provider":"avaamo","reset":true,"times":1}' "$B/_control/faults"
expect 000 "" -X POST "${AT[@]}" -d '{"data_types":["storage"]}' "$AV/1/clear_data.json"
expect 400 "unknown key" -X POST -d '{"latency":5}' "$B/_control/faults"
expect 200 '"ok":true' -X DELETE "$B/_control/faults"

# Record and stats
curl -s "$B/_control/calls" >"$WORK/calls"
python3 - "$WORK/calls" <<'PY' || fails=$((fails + 1))
import json, sys
d = json.load(open(sys.argv[1]))
calls = d["calls"]
assert d["next"] == calls[-1]["seq"], d["next"]
first = calls[0]
assert first["provider"] == "vectara" and first["method"] == "DELETE", first
assert first["path"] == "/v2/agents/agt_a/sessions/ase_1", first
assert first["headers"]["x-api-key"] == "test-vectara-key", first
assert first["status"] == 204 and first["body"] is None, first
enc = [c for c in calls if "%5F" in c["path"]]
assert enc and enc[0]["path"] == "/v2/agents/agt%5Fenc/sessions/ase_x%2D1", enc
q = [c for c in calls if c["query"] == "startDate=2024-01-01&endDate=2024-02-29"]
assert q and q[0]["status"] == 204, q
faults = [c["fault"] for c in calls if c["fault"]]
assert faults == ["status", "hang", "reset"], faults
assert [c["status"] for c in calls if c["fault"] in ("hang", "reset")] == [0, 0]
PY
curl -s "$B/_control/stats" >"$WORK/stats"
python3 - "$WORK/stats" <<'PY' || fails=$((fails + 1))
import json, sys
s = json.load(open(sys.argv[1]))
assert s["requests"] >= 30 and s["by_status"]["204"] >= 8, s
assert s["connections"] >= s["requests"], s
PY
expect 200 '"ok":true' -X DELETE "$B/_control/calls"
expect 200 '"calls":[]' "$B/_control/calls"

# Echo faults: the vendor-shaped error quotes the credentials received
expect 201 ids -X POST -d '{"provider":"vectara","status":400,"echo":"raw","times":1}' "$B/_control/faults"
expect 400 '"credentials received: x-api-key=test-vectara-key;"' -X DELETE "${VK[@]}" "$VS/agt_a/sessions/ase_1"
expect 201 ids -X POST -d '{"provider":"convai","status":503,"echo":"base64","echo_pad":2,"times":1}' "$B/_control/faults"
expect 503 '"..credentials received: convai-api-key=dGVzdC1jb252YWkta2V5;"' -X POST "${CK[@]}" -d '{"charID":"c","sessionIDs":["s"]}' "$CV"
expect 201 ids -X POST -d '{"provider":"algolia","status":500,"echo":"percent","times":1}' "$B/_control/faults"
expect 500 'x-algolia-application-id=TESTALGOLIAAPP; x-algolia-api-key=a%20b%2Fc;' -X DELETE -H 'x-algolia-application-id: TESTALGOLIAAPP' -H 'x-algolia-api-key: a b/c' "$AL/user-data/u"
expect 400 "echo needs a status" -X POST -d '{"echo":"raw"}' "$B/_control/faults"
expect 400 "echo must be" -X POST -d '{"status":500,"echo":"rot13"}' "$B/_control/faults"
expect 200 '"ok":true' -X DELETE "$B/_control/faults"

kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || { echo "FAIL: server exit status $?"; fails=$((fails + 1)); }
SERVER_PID=
if [ "$fails" -ne 0 ]; then
        echo "$fails check(s) failed"
        exit 1
fi
echo "provider-server smoke test: all checks passed"
