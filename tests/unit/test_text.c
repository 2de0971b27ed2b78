/* Unit tests: text (UTF-8 repair and cuts, escaping, deceptive text). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "text.h"

static void utf8_seq_lengths(void **state)
{
        (void)state;
        assert_int_equal(text_utf8_seq("a", 1), 1);
        assert_int_equal(text_utf8_seq("\xc3\xa9", 2), 2);         /* é */
        assert_int_equal(text_utf8_seq("\xe2\x82\xac", 3), 3);     /* € */
        assert_int_equal(text_utf8_seq("\xf0\x9f\x98\x80", 4), 4); /* 😀 */
        /* Truncated, overlong, surrogate, beyond U+10FFFF, stray. */
        assert_int_equal(text_utf8_seq("\xe2\x82", 2), 0);
        assert_int_equal(text_utf8_seq("\xc0\xaf", 2), 0);
        assert_int_equal(text_utf8_seq("\xe0\x80\xaf", 3), 0);
        assert_int_equal(text_utf8_seq("\xed\xa0\x80", 3), 0);
        assert_int_equal(text_utf8_seq("\xf4\x90\x80\x80", 4), 0);
        assert_int_equal(text_utf8_seq("\x80", 1), 0);
        assert_int_equal(text_utf8_seq("\xc3\x28", 2), 0);
        assert_int_equal(text_utf8_seq("", 0), 0);
}

static void fix_utf8_replaces_only_bad_bytes(void **state)
{
        (void)state;
        char s[] = "ok \xc3\xa9 \xff \xc3\x28 \xed\xa0\x80 \xe2\x82\xac";
        text_fix_utf8(s, strlen(s));
        assert_string_equal(s, "ok \xc3\xa9 ? ?( ??? \xe2\x82\xac");
}

static void cut_never_splits_a_character(void **state)
{
        (void)state;
        const char *s = "ab\xe2\x82\xac"
                        "cd"; /* a b € c d */
        size_t len = strlen(s);
        assert_int_equal(text_utf8_cut(s, len, 100), len);
        assert_int_equal(text_utf8_cut(s, len, len), len);
        assert_int_equal(text_utf8_cut(s, len, 2), 2);
        assert_int_equal(text_utf8_cut(s, len, 3), 2);
        assert_int_equal(text_utf8_cut(s, len, 4), 2);
        assert_int_equal(text_utf8_cut(s, len, 5), 5);
        assert_int_equal(text_utf8_cut(s, len, 0), 0);
}

static void escape_printable_and_hex(void **state)
{
        (void)state;
        char out[TEXT_ESCAPE_SIZE(64)];
        const char in[] = "a\"b\\c\n\x01\xc3\xa9";
        size_t n = text_escape(out, sizeof(out), in, sizeof(in) - 1, 64, 0);
        assert_string_equal(out, "a\"b\\c\\x0A\\x01\\xC3\\xA9");
        assert_int_equal(n, strlen(out));

        text_escape(out, sizeof(out), in, sizeof(in) - 1, 64,
                    TEXT_ESCAPE_QUOTES);
        assert_string_equal(out, "a\\x22b\\x5Cc\\x0A\\x01\\xC3\\xA9");
}

static void escape_cut_is_marked(void **state)
{
        (void)state;
        char out[TEXT_ESCAPE_SIZE(4)];
        text_escape(out, sizeof(out), "abcdefgh", 8, 4, 0);
        assert_string_equal(out, "abcd...");
        text_escape(out, sizeof(out), "abcd", 4, 4, 0);
        assert_string_equal(out, "abcd");
}

static void escape_never_splits_an_escape(void **state)
{
        (void)state;
        /* Room for "ab" and a NUL but not for a whole "\x01". */
        char out[5];
        text_escape(out, sizeof(out), "ab\x01\x01", 4, 64, 0);
        assert_string_equal(out, "ab");
        char none[1] = {'x'};
        text_escape(none, sizeof(none), "abc", 3, 64, 0);
        assert_string_equal(none, "");
        assert_int_equal(text_escape(none, 0, "abc", 3, 64, 0), 0);
}

static void ctl_and_printable(void **state)
{
        (void)state;
        assert_false(text_has_ctl("plain text", 10));
        assert_true(text_has_ctl("a\tb", 3));
        assert_true(text_has_ctl("a\x7f", 2));
        assert_false(text_has_ctl("\xc2\x85", 2)); /* C1 is not C0 */
        assert_true(text_is_printable_ascii("Bearer x~", 9));
        assert_false(text_is_printable_ascii("a\x7f", 2));
        assert_false(text_is_printable_ascii("\xc3\xa9", 2));
        assert_true(text_is_printable_ascii("", 0));
}

static int deceptive(const char *s)
{
        return text_has_deceptive(s, strlen(s));
}

static void deceptive_characters(void **state)
{
        (void)state;
        assert_false(deceptive("agt_support"));
        assert_false(deceptive("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
        assert_false(deceptive("\xc2\xa0")); /* U+00A0: past C1 */
        assert_true(deceptive("a\nb"));
        assert_true(deceptive("a\x7f"));
        assert_true(deceptive("x\xc2\x80"));        /* U+0080 */
        assert_true(deceptive("x\xc2\x9f"));        /* U+009F */
        assert_true(deceptive("x\xe2\x80\xaa"));    /* U+202A LRE */
        assert_true(deceptive("x\xe2\x80\xae"));    /* U+202E RLO */
        assert_false(deceptive("x\xe2\x80\xaf"));   /* U+202F: not bidi */
        assert_true(deceptive("x\xe2\x81\xa6"));    /* U+2066 LRI */
        assert_true(deceptive("x\xe2\x81\xa9"));    /* U+2069 PDI */
        assert_false(deceptive("x\xe2\x81\xaa"));   /* U+206A */
        assert_true(deceptive("x\xe2\x80\xa8"));    /* U+2028 */
        assert_true(deceptive("x\xe2\x80\xa9"));    /* U+2029 */
        assert_false(deceptive("x\xe2\x80\xa7"));   /* U+2027 */
        assert_true(deceptive("x\xff"));            /* not UTF-8 */
        assert_true(text_has_deceptive("a\0b", 3)); /* NUL is C0 */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(utf8_seq_lengths),
            cmocka_unit_test(fix_utf8_replaces_only_bad_bytes),
            cmocka_unit_test(cut_never_splits_a_character),
            cmocka_unit_test(escape_printable_and_hex),
            cmocka_unit_test(escape_cut_is_marked),
            cmocka_unit_test(escape_never_splits_an_escape),
            cmocka_unit_test(ctl_and_printable),
            cmocka_unit_test(deceptive_characters),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
