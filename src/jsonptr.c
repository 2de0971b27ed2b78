/* jsonptr — RFC 6901 evaluation, token by token, without allocating. */
#include "jsonptr.h"

#include <string.h>

int jsonptr_valid(const char *ptr)
{
        if (!ptr)
                return 0;
        if (ptr[0] != '\0' && ptr[0] != '/')
                return 0;
        for (const char *p = ptr; *p; p++) {
                if (*p == '~' && p[1] != '0' && p[1] != '1')
                        return 0;
        }
        return 1;
}

/* Unescapes one token (~1 -> /, ~0 -> ~; in that order, RFC 6901 §4)
 * into out; the token's length if it fits, else -1. */
static long unescape(const char *tok, size_t n, char *out, size_t size)
{
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                char c = tok[i];
                if (c == '~')
                        c = tok[++i] == '1' ? '/' : '~';
                if (m + 1 >= size)
                        return -1;
                out[m++] = c;
        }
        out[m] = '\0';
        return (long)m;
}

static json_t *array_step(json_t *arr, const char *tok, size_t n)
{
        size_t idx = 0;
        if (n == 0 || (n > 1 && tok[0] == '0') || n > 18)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (tok[i] < '0' || tok[i] > '9')
                        return NULL;
                idx = idx * 10 + (size_t)(tok[i] - '0');
        }
        return json_array_get(arr, idx);
}

json_t *jsonptr_get(json_t *doc, const char *ptr)
{
        char key[1024];
        if (!doc || !jsonptr_valid(ptr))
                return NULL;
        json_t *cur = doc;
        const char *p = ptr;
        while (cur && *p == '/') {
                p++;
                size_t n = strcspn(p, "/");
                long k = unescape(p, n, key, sizeof(key));
                if (k < 0)
                        return NULL;
                if (json_is_object(cur))
                        cur = json_object_getn(cur, key, (size_t)k);
                else if (json_is_array(cur))
                        cur = array_step(cur, key, (size_t)k);
                else
                        cur = NULL;
                p += n;
        }
        return cur;
}
