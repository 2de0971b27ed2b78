/* Unit tests: log (JSON lines, level filter, secret redaction). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SECRET "sk_live_T0pS3cretValue"

/* Captured output of one test: the file log lines go to, read back. */
static FILE *capture;
static char captured[65536];

static int setup(void **state)
{
        (void)state;
        capture = tmpfile();
        if (!capture)
                return -1;
        log_set_output(capture);
        log_set_level(LOG_INFO);
        log_clear_secrets();
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        log_set_output(NULL);
        log_set_level(LOG_INFO);
        log_clear_secrets();
        fclose(capture);
        capture = NULL;
        return 0;
}

/* Everything written so far, NUL-terminated. */
static const char *output(void)
{
        fflush(capture);
        rewind(capture);
        size_t n = fread(captured, 1, sizeof(captured) - 1, capture);
        captured[n] = '\0';
        return captured;
}

static size_t count_lines(const char *s)
{
        size_t n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

/* Parses the only line written, failing the test unless it is exactly one
 * line of valid JSON object. */
static json_t *only_line(void)
{
        const char *out = output();
        assert_int_equal(count_lines(out), 1);
        size_t len = strlen(out);
        assert_true(len > 1 && out[len - 1] == '\n');
        json_error_t err;
        json_t *obj = json_loadb(out, len - 1, 0, &err);
        if (!obj)
                fail_msg("line is not JSON: %s (%s)", err.text, out);
        assert_true(json_is_object(obj));
        return obj;
}

static const char *field(json_t *obj, const char *key)
{
        return json_string_value(json_object_get(obj, key));
}

static void line_has_fields_in_order(void **state)
{
        (void)state;
        log_info("req-1", "vectara", "deleted %d sessions", 3);
        json_t *obj = only_line();
        const char *keys[] = {"ts", "level", "msg", "request_id", "provider"};
        size_t i = 0;
        const char *key;
        json_t *value;
        json_object_foreach(obj, key, value)
        {
                assert_true(i < 5);
                assert_string_equal(key, keys[i]);
                assert_true(json_is_string(value));
                i++;
        }
        assert_int_equal(i, 5);
        assert_string_equal(field(obj, "level"), "info");
        assert_string_equal(field(obj, "msg"), "deleted 3 sessions");
        assert_string_equal(field(obj, "request_id"), "req-1");
        assert_string_equal(field(obj, "provider"), "vectara");
        json_decref(obj);
}

static void timestamp_is_rfc3339_ms(void **state)
{
        (void)state;
        log_warn(NULL, NULL, "x");
        json_t *obj = only_line();
        const char *ts = field(obj, "ts");
        assert_non_null(ts);
        /* 2026-11-22T10:00:00.123Z */
        assert_int_equal(strlen(ts), 24);
        assert_int_equal(ts[4], '-');
        assert_int_equal(ts[10], 'T');
        assert_int_equal(ts[19], '.');
        assert_int_equal(ts[23], 'Z');
        assert_string_equal(field(obj, "level"), "warn");
        json_decref(obj);
}

static void null_fields_omitted(void **state)
{
        (void)state;
        log_error(NULL, NULL, "boom");
        json_t *obj = only_line();
        assert_null(json_object_get(obj, "request_id"));
        assert_null(json_object_get(obj, "provider"));
        assert_int_equal(json_object_size(obj), 3);
        assert_string_equal(field(obj, "level"), "error");
        json_decref(obj);

        log_error("r", NULL, "boom");
        const char *out = output();
        const char *second = strchr(out, '\n') + 1;
        json_t *o2 = json_loads(second, JSON_DISABLE_EOF_CHECK, NULL);
        assert_non_null(o2);
        assert_string_equal(field(o2, "request_id"), "r");
        assert_null(json_object_get(o2, "provider"));
        assert_int_equal(json_object_size(o2), 4);
        json_decref(o2);
}

static void level_filter_drops_lower_levels(void **state)
{
        (void)state;
        log_debug(NULL, NULL, "debug at default level");
        assert_string_equal(output(), "");

        log_set_level(LOG_WARN);
        log_info(NULL, NULL, "info below warn");
        log_debug(NULL, NULL, "debug below warn");
        assert_string_equal(output(), "");
        log_warn(NULL, NULL, "warn kept");
        log_error(NULL, NULL, "error kept");
        const char *out = output();
        assert_int_equal(count_lines(out), 2);
        assert_non_null(strstr(out, "warn kept"));
        assert_non_null(strstr(out, "error kept"));

        log_set_level(LOG_DEBUG);
        log_debug(NULL, NULL, "debug now kept");
        assert_non_null(strstr(output(), "debug now kept"));
}

static void level_parse(void **state)
{
        (void)state;
        enum log_level l = LOG_ERROR;
        assert_int_equal(log_level_parse("debug", &l), 0);
        assert_int_equal(l, LOG_DEBUG);
        assert_int_equal(log_level_parse("info", &l), 0);
        assert_int_equal(l, LOG_INFO);
        assert_int_equal(log_level_parse("warn", &l), 0);
        assert_int_equal(l, LOG_WARN);
        assert_int_equal(log_level_parse("error", &l), 0);
        assert_int_equal(l, LOG_ERROR);
        l = LOG_INFO;
        assert_int_equal(log_level_parse("verbose", &l), -1);
        assert_int_equal(log_level_parse("", &l), -1);
        assert_int_equal(log_level_parse("INFO ", &l), -1);
        assert_int_equal(log_level_parse(NULL, &l), -1);
        assert_int_equal(l, LOG_INFO);
}

static void secret_never_in_output(void **state)
{
        (void)state;
        log_add_secret(SECRET);
        log_info(SECRET, SECRET, "auth failed with key %s (%s)", SECRET,
                 "x" SECRET "y");
        const char *out = output();
        assert_null(strstr(out, SECRET));
        json_t *obj = only_line();
        assert_string_equal(field(obj, "msg"),
                            "auth failed with key ********************** "
                            "(x**********************y)");
        assert_null(strstr(field(obj, "request_id"), "sk_live"));
        assert_null(strstr(field(obj, "provider"), "sk_live"));
        json_decref(obj);
}

static void secret_with_json_special_chars_redacted(void **state)
{
        (void)state;
        /* Escaped in the encoded line, so it can only be caught before
         * encoding. */
        const char *secret = "p\"w\\d\n\x01z";
        log_add_secret(secret);
        log_info(NULL, NULL, "token=%s;", secret);
        json_t *obj = only_line();
        assert_string_equal(field(obj, "msg"), "token=********;");
        json_decref(obj);
}

static void short_secret_ignored_and_clear_forgets(void **state)
{
        (void)state;
        log_add_secret("abc");
        log_add_secret(SECRET);
        log_info(NULL, NULL, "abc %s", SECRET);
        json_t *obj = only_line();
        assert_string_equal(field(obj, "msg"), "abc **********************");
        json_decref(obj);

        log_clear_secrets();
        char s[64] = SECRET;
        log_redact(s);
        assert_string_equal(s, SECRET);
}

static void redact_in_place(void **state)
{
        (void)state;
        log_add_secret("hunter2");
        char s[] = "pw=hunter2, again hunter2hunter2!";
        log_redact(s);
        assert_string_equal(s, "pw=*******, again **************!");
        log_redact(NULL); /* tolerated */
}

static void redact_overlapping_secrets(void **state)
{
        (void)state;
        /* Masking "abcdef" first must not hide the start of "defghi". */
        log_add_secret("abcdef");
        log_add_secret("defghi");
        char s[] = "xabcdefghix";
        log_redact(s);
        assert_string_equal(s, "x*********x");

        /* A short secret inside a longer one must not end the mask early. */
        log_add_secret("longsecretvalue");
        log_add_secret("secr");
        char t[] = "[longsecretvalue]";
        log_redact(t);
        assert_string_equal(t, "[***************]");
}

static void secret_cut_by_truncation_not_leaked(void **state)
{
        (void)state;
        log_add_secret(SECRET);
        /* The secret straddles the 2 KiB cap: its first bytes would stay
         * visible if only whole occurrences were masked. */
        char pad[2030];
        memset(pad, 'x', sizeof(pad) - 1);
        pad[sizeof(pad) - 1] = '\0';
        log_info(NULL, NULL, "%s%s%s", pad, SECRET, pad);
        json_t *obj = only_line();
        const char *msg = field(obj, "msg");
        assert_true(strlen(msg) <= 2048);
        assert_null(strstr(msg, "sk_l"));
        assert_null(strstr(msg, "sk_"));
        json_decref(obj);
}

static void long_message_truncated_with_ellipsis(void **state)
{
        (void)state;
        char big[10000];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        log_info(NULL, NULL, "%s", big);
        json_t *obj = only_line();
        const char *msg = field(obj, "msg");
        size_t n = strlen(msg);
        assert_true(n <= 2048);
        assert_true(n >= 2000);
        assert_string_equal(msg + n - 3, "\xe2\x80\xa6");
        json_decref(obj);
}

static void truncation_keeps_utf8_whole(void **state)
{
        (void)state;
        /* 3-byte characters: a cut at a byte limit would split one. */
        char big[3 * 1000 + 1];
        for (size_t i = 0; i < 1000; i++)
                memcpy(big + 3 * i, "\xe2\x82\xac", 3); /* € */
        big[3000] = '\0';
        log_info(NULL, NULL, "%s", big);
        json_t *obj = only_line(); /* fails if the line is not UTF-8 */
        const char *msg = field(obj, "msg");
        assert_true(strlen(msg) <= 2048);
        assert_int_equal(strlen(msg) % 3, 0);
        json_decref(obj);
}

static void control_chars_and_quotes_stay_valid_json(void **state)
{
        (void)state;
        const char *nasty = "quote\" backslash\\ nl\n cr\r tab\t bel\x07 "
                            "esc\x1b del\x7f }{\",\"level\":\"error";
        log_info(nasty, "p\"\n", "%s", nasty);
        json_t *obj = only_line();
        assert_string_equal(field(obj, "msg"), nasty);
        assert_string_equal(field(obj, "request_id"), nasty);
        assert_string_equal(field(obj, "provider"), "p\"\n");
        assert_string_equal(field(obj, "level"), "info");
        json_decref(obj);
}

static void invalid_utf8_replaced(void **state)
{
        (void)state;
        log_info("r\xff", NULL, "bytes \xc3\x28 \xed\xa0\x80 \xf8 end");
        json_t *obj = only_line();
        const char *msg = field(obj, "msg");
        assert_non_null(msg);
        assert_non_null(strstr(msg, "bytes "));
        assert_non_null(strstr(msg, " end"));
        assert_null(strchr(msg, '\xff'));
        assert_string_equal(field(obj, "request_id"), "r?");
        json_decref(obj);
}

static void one_line_per_call(void **state)
{
        (void)state;
        for (int i = 0; i < 50; i++)
                log_info("req", NULL, "line %d\nwith newline", i);
        const char *out = output();
        assert_int_equal(count_lines(out), 50);
        /* Every line parses on its own. */
        char *copy = strdup(out);
        assert_non_null(copy);
        char *save = NULL;
        int n = 0;
        for (char *l = strtok_r(copy, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                json_t *obj = json_loads(l, 0, NULL);
                assert_non_null(obj);
                json_decref(obj);
                n++;
        }
        assert_int_equal(n, 50);
        free(copy);
}

static void secret_table_is_bounded(void **state)
{
        (void)state;
        char value[32];
        for (int i = 0; i < 100; i++) {
                snprintf(value, sizeof(value), "secret-number-%03d", i);
                log_add_secret(value);
        }
        /* The first 64 are masked; overflowing is reported, not silent. */
        char s[] = "secret-number-000 secret-number-063";
        log_redact(s);
        assert_null(strstr(s, "secret-number"));
        const char *out = output();
        assert_int_equal(count_lines(out), 1);
        assert_non_null(strstr(out, "not redacted"));
        /* Registering the same value again takes no slot. */
        log_clear_secrets();
        for (int i = 0; i < 100; i++)
                log_add_secret("same-secret");
        assert_int_equal(count_lines(output()), 1);
}

static void encoded_forms_of_a_secret_masked(void **state)
{
        (void)state;
        log_add_secret("Zq+/7k=Yy w~9#");
        /* As a vendor may echo it: percent-encoded (both hex cases),
         * base64 alone, base64 inside a Basic "user:secret", base64url.
         * Only characters made of the secret's bits alone are masked. */
        char s[] = "u=Zq%2B%2F7k%3DYy%20w~9%23 l=Zq%2b%2f7k%3dYy%20w~9%23 "
                   "b=WnErLzdrPVl5IHd+OSM= "
                   "basic=dXNlcjpacSsvN2s9WXkgd345Iw== "
                   "url=WnErLzdrPVl5IHd-OSM=";
        log_redact(s);
        assert_string_equal(s, "u=************************ "
                               "l=************************ "
                               "b=******************M= "
                               "basic=dXNlcjp******************w== "
                               "url=******************M=");
}

static void encoded_forms_in_log_lines(void **state)
{
        (void)state;
        log_add_secret("Zq+/7k=Yy w~9#");
        log_info(NULL, NULL, "echo %s", "Zq%2B%2F7k%3DYy%20w~9%23");
        json_t *obj = only_line();
        assert_string_equal(field(obj, "msg"), "echo ************************");
        json_decref(obj);
}

static void second_pass_masks_through_an_escape(void **state)
{
        (void)state;
        /* Plain secrets that start like the inside of a JSON escape. The
         * text holds a newline and \x01, not the secrets, but the encoded
         * line reads "\nabcdefg" and "\u0001hijk": a scanner of raw log
         * bytes would find both secrets there. So they are masked with
         * the escape they start in; masking from inside the escape used
         * to leave a lone backslash and the line was no longer JSON. */
        log_add_secret("nabcdefg");
        log_add_secret("u0001hijk");
        log_info(NULL, NULL, "a\nabcdefg b\x01hijk");
        assert_null(strstr(output(), "nabcdefg"));
        assert_null(strstr(output(), "u0001hijk"));
        json_t *obj = only_line();
        assert_string_equal(field(obj, "msg"), "a********* b**********");
        json_decref(obj);

        /* Right after an escape a secret is still masked. */
        log_add_secret("abcdefgh");
        log_info(NULL, NULL, "x\nabcdefgh\t");
        assert_null(strstr(output(), "abcdefgh"));
}

static void cut_mask_covers_a_secret_prefix(void **state)
{
        (void)state;
        log_add_secret(SECRET);
        char s[] = "key=sk_live_T0p";
        log_redact_cut(s, strlen(s));
        assert_string_equal(s, "key=***********");
        char t[] = "no secret here";
        log_redact_cut(t, strlen(t));
        assert_string_equal(t, "no secret here");
        log_redact_cut(NULL, 0); /* tolerated */
}

static void same_token_twice_forgotten_twice(void **state)
{
        (void)state;
        /* Two loops fetched the same token; one replaces it. */
        log_add_secret("vtok_shared_by_two_loops");
        log_add_secret("vtok_shared_by_two_loops");
        log_forget_secret("vtok_shared_by_two_loops");
        char s[] = "Bearer vtok_shared_by_two_loops";
        log_redact(s);
        assert_string_equal(s, "Bearer ************************");
        log_forget_secret("vtok_shared_by_two_loops");
        char t[] = "Bearer vtok_shared_by_two_loops";
        log_redact(t);
        assert_string_equal(t, "Bearer vtok_shared_by_two_loops");
}

/* A loop that rotates its own token while the others log. */
static void *rotate_tokens(void *arg)
{
        char tok[32], line[96];
        for (int i = 0; i < 2000; i++) {
                snprintf(tok, sizeof(tok), "tok_%d_%d", (int)(intptr_t)arg, i);
                log_add_secret(tok);
                snprintf(line, sizeof(line), "%s %s", tok, SECRET);
                log_redact(line);
                if (strchr(line, '_'))
                        return (void *)1;
                if (i % 20 == 0)
                        log_warn(NULL, NULL, "using %s with " SECRET, tok);
                log_forget_secret(tok);
        }
        return NULL;
}

static void registry_shared_by_threads(void **state)
{
        (void)state;
        pthread_t t[3];
        log_add_secret(SECRET);
        for (size_t i = 0; i < 3; i++)
                pthread_create(&t[i], NULL, rotate_tokens, (void *)(intptr_t)i);
        for (size_t i = 0; i < 3; i++) {
                void *rc;
                pthread_join(t[i], &rc);
                assert_null(rc);
        }
        const char *out = output();
        assert_int_equal(count_lines(out), 300);
        assert_null(strstr(out, SECRET));
        assert_null(strstr(out, "tok_"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(line_has_fields_in_order, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(timestamp_is_rfc3339_ms, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(null_fields_omitted, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(level_filter_drops_lower_levels,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(level_parse, setup, teardown),
            cmocka_unit_test_setup_teardown(secret_never_in_output, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(
                secret_with_json_special_chars_redacted, setup, teardown),
            cmocka_unit_test_setup_teardown(
                short_secret_ignored_and_clear_forgets, setup, teardown),
            cmocka_unit_test_setup_teardown(redact_in_place, setup, teardown),
            cmocka_unit_test_setup_teardown(redact_overlapping_secrets, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(secret_cut_by_truncation_not_leaked,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(
                long_message_truncated_with_ellipsis, setup, teardown),
            cmocka_unit_test_setup_teardown(truncation_keeps_utf8_whole, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(
                control_chars_and_quotes_stay_valid_json, setup, teardown),
            cmocka_unit_test_setup_teardown(invalid_utf8_replaced, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(one_line_per_call, setup, teardown),
            cmocka_unit_test_setup_teardown(secret_table_is_bounded, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(encoded_forms_of_a_secret_masked,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(encoded_forms_in_log_lines, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(second_pass_masks_through_an_escape,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(cut_mask_covers_a_secret_prefix,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(same_token_twice_forgotten_twice,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(registry_shared_by_threads, setup,
                                            teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
