/* reg_error.c - the calling thread's failure message (see reg_error.h). */
#include "storage/base/reg_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char message[REG_ERROR_MAX];

int reg_error_set(int code, const char *fmt, ...)
{
    /* Formatted aside first: an argument may be reg_error_last() itself. */
    char text[REG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    memcpy(message, text, sizeof(message));
    return code;
}

int reg_error_wrap(int code, const char *fmt, ...)
{
    char context[REG_ERROR_MAX], old[REG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof(context), fmt, ap);
    va_end(ap);
    if (!message[0]) {
        memcpy(message, context, sizeof(message));
        return code;
    }
    /* Cut on purpose when the two together are longer than a message may be. */
    size_t n = strnlen(context, sizeof(context) - 1);
    memcpy(old, message, sizeof(old));
    memcpy(message, context, n);
    message[n] = '\0';
    strncat(message, ": ", sizeof(message) - 1 - n);
    strncat(message, old, sizeof(message) - 1 - strlen(message));
    return code;
}

const char *reg_error_last(const char *fallback)
{
    return message[0] ? message : fallback;
}

void reg_error_clear(void)
{
    message[0] = '\0';
}
