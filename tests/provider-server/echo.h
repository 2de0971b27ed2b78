/* Echo faults: an error body that quotes the credentials the request
 * carried, as careless vendors do, so tests can prove the worker never
 * passes them on. */
#ifndef PS_ECHO_H
#define PS_ECHO_H

#include <jansson.h>
#include <stdbool.h>

enum echo_mode {
        ECHO_NONE,
        ECHO_RAW,     /* the header values as received */
        ECHO_PERCENT, /* percent-encoded, every byte but A-Za-z0-9-._~ */
        ECHO_BASE64,  /* standard base64 with padding */
};

/* "raw", "percent", "base64" -> the mode; false for anything else. */
bool echo_mode_parse(const char *name, enum echo_mode *out);
const char *echo_mode_name(enum echo_mode m);

/* pad dots, then "credentials received:" and " NAME=VALUE;" for every
 * credential header of headers (lower-cased names), VALUE encoded as mode
 * says. malloc'd. */
char *echo_credentials(json_t *headers, enum echo_mode mode, unsigned int pad);

#endif
