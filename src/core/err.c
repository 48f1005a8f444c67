#include "core/err.h"

static const struct {
	int status;
	const char *code;
	const char *msg;
} table[] = {
#define ERR_ROW(name, status, code, msg) {status, code, msg},
    FOR_EACH_ERR(ERR_ROW)
#undef ERR_ROW
};

int err_status(enum err e)
{
	return (unsigned)e < ERR__COUNT ? table[e].status : 500;
}

const char *err_code(enum err e)
{
	return (unsigned)e < ERR__COUNT ? table[e].code : "internal";
}

const char *err_message(enum err e)
{
	return (unsigned)e < ERR__COUNT ? table[e].msg : table[ERR_INTERNAL].msg;
}

enum err err_fail(struct errinfo *ei, enum err code, const char *field, const char *msg)
{
	if (ei) {
		ei->code = code;
		ei->field = field;
		ei->msg = msg;
	}
	return code;
}
