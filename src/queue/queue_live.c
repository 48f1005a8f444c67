/* queue_live.c: the live position of terminals' tickets (docs/queue.md "Live position").
 *
 * A terminal may hold a ticket of any centre of the city (全市通办), whose board
 * (scope:<path>:queue) is not the terminal's to subscribe to. So after every committed change
 * of a centre's board the queue tells each terminal with a waiting ticket there where it
 * stands, on the terminal's own topic terminal:<code>:queue. The positions of all the
 * centre's waiting tickets come from one query (a rank over the waiting line of each group),
 * the wait inputs (samples, open windows) from one query each for the centre's groups: three
 * queries a change whatever the number of tickets, never one per ticket. */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "queue/queue_int.h"
#include "server/server.h"

/* The wait inputs of one group of the centre. */
struct group_stats {
	int64_t id;
	int windows;
	int n;
	int64_t d[QUEUE_WAIT_MAX_SAMPLES];
};

static struct group_stats *stats_find(struct group_stats *g, int ng, int64_t id)
{
	for (int i = 0; i < ng; i++)
		if (g[i].id == id)
			return &g[i];
	return NULL;
}

static void publish(struct server *srv, struct arena *a, const char *terminal, json_t *msg)
{
	char topic[160];
	const char *text = msg ? json_dump_arena(msg, a) : NULL;
	json_decref(msg);
	if (!text ||
	    snprintf(topic, sizeof(topic), "terminal:%s:queue", terminal) >= (int)sizeof(topic))
		return;
	if (event_bus_publish(srv->bus, topic, text))
		log_warn("queue.position", "position for terminal %s not published", terminal);
}

/* The ticket the change was about, when it left the line (called, cancelled, moved away …):
 * its terminal hears the new state at once. A waiting ticket is covered by the ranking of
 * its centre (for a move, the publication of the new centre). */
static void subject_publish(struct server *srv, struct arena *a, const json_t *ticket)
{
	const char *terminal = json_get_str(ticket, "terminal");
	const char *state = json_get_str(ticket, "state");
	if (!terminal || !state || !strcmp(state, "waiting"))
		return;
	publish(srv, a, terminal,
	        json_pack("{s:s,s:I,s:s?,s:s,s:n,s:n}", "event", "position", "ticket_id",
	                  (json_int_t)json_get_int(ticket, "id", 0), "ticket_no",
	                  json_get_str(ticket, "ticket_no"), "state", state, "position", "wait"));
}

/* Actions that by the state table neither enter nor leave the waiting line: the positions
 * stay as they were (a finish adds a service sample, which moves the estimates a little;
 * the next change of the line or the page's fallback poll brings that). */
static bool line_unchanged(const char *event)
{
	static const char *const same[] = {"recall",  "skip",       "start",        "finish",
	                                   "suspend", "force_skip", "move_propose", "resume"};
	for (size_t i = 0; event && i < sizeof(same) / sizeof(same[0]); i++)
		if (!strcmp(event, same[i]))
			return true;
	return false;
}

void queue_positions_publish(struct server *srv, struct db_conn *c, struct arena *a, int64_t org_id,
                             const char *event, const json_t *ticket)
{
	struct db_rows *line = NULL, *rs = NULL;
	struct group_stats *g = NULL;
	int ng = 0;
	if (!srv->bus)
		return;
	if (ticket)
		subject_publish(srv, a, ticket);
	if (line_unchanged(event))
		return;
	/* RANK over issue time = 1 + the tickets of the group issued strictly before, the same
	 * "ahead" as the ticket's status (queue_wait_of). */
	enum err e = db_exec(c, a, &line,
	                     "SELECT id, ticket_no, terminal, group_id, pos FROM (SELECT t.id,"
	                     " t.ticket_no, t.terminal, t.group_id, RANK() OVER (PARTITION BY"
	                     " t.group_id ORDER BY t.issued_at) AS pos FROM queue_tickets t WHERE"
	                     " t.org_id = ? AND t.state = 'waiting') w WHERE terminal IS NOT NULL"
	                     " ORDER BY group_id, pos",
	                     "i", org_id);
	if (e || !line->nrows)
		goto out;
	if ((e = db_exec(c, a, &rs, "SELECT id FROM queue_groups WHERE org_id = ?", "i", org_id)))
		goto out;
	if (!(g = calloc((size_t)(rs->nrows ? rs->nrows : 1), sizeof(*g)))) {
		e = ERR_NOMEM;
		goto out;
	}
	for (int r = 0; r < rs->nrows; r++)
		g[ng++].id = db_int(rs, r, 0);
	if ((e = db_exec(c, a, &rs,
	                 "SELECT wg.group_id, COUNT(*) FROM queue_windows w JOIN"
	                 " queue_window_groups wg ON wg.window_id = w.id WHERE w.org_id = ? AND"
	                 " w.active = 1 AND w.clerk_id IS NOT NULL GROUP BY wg.group_id",
	                 "i", org_id)))
		goto out;
	for (int r = 0; r < rs->nrows; r++) {
		struct group_stats *s = stats_find(g, ng, db_int(rs, r, 0));
		if (s)
			s->windows = (int)db_int(rs, r, 1);
	}
	/* the last QUEUE_WAIT_MAX_SAMPLES services of each group in 7 days, as queue_wait_of */
	if ((e = db_exec(c, a, &rs,
	                 "SELECT group_id, d FROM (SELECT group_id, finished_at -"
	                 " COALESCE(started_at, called_at) AS d, ROW_NUMBER() OVER (PARTITION BY"
	                 " group_id ORDER BY finished_at DESC) AS rn FROM queue_tickets WHERE"
	                 " group_id IN (SELECT id FROM queue_groups WHERE org_id = ?) AND state ="
	                 " 'done' AND finished_at > ? AND called_at IS NOT NULL) x WHERE rn <= ?",
	                 "iii", org_id, time_now_ms() - 7 * 86400000LL,
	                 (int64_t)QUEUE_WAIT_MAX_SAMPLES)))
		goto out;
	for (int r = 0; r < rs->nrows; r++) {
		struct group_stats *s = stats_find(g, ng, db_int(rs, r, 0));
		if (s && s->n < QUEUE_WAIT_MAX_SAMPLES)
			s->d[s->n++] = db_int(rs, r, 1);
	}
	for (int r = 0; r < line->nrows; r++) {
		struct group_stats *s = stats_find(g, ng, db_int(line, r, 3));
		int64_t ahead = db_int(line, r, 4) - 1;
		struct queue_wait w;
		queue_wait_estimate(s ? s->d : NULL, s ? s->n : 0, ahead, s ? s->windows : 0, &w);
		publish(srv, a, db_text(line, r, 2),
		        json_pack("{s:s,s:I,s:s,s:s,s:I,s:{s:I,s:I,s:I,s:I}}", "event", "position",
		                  "ticket_id", (json_int_t)db_int(line, r, 0), "ticket_no",
		                  db_text(line, r, 1), "state", "waiting", "position",
		                  (json_int_t)(ahead + 1), "wait", "ahead", (json_int_t)ahead,
		                  "minutes", (json_int_t)w.minutes, "low", (json_int_t)w.low,
		                  "high", (json_int_t)w.high));
	}
out:
	if (e)
		log_warn("queue.position", "positions of centre %lld not published (%s)",
		         (long long)org_id, err_code(e));
	free(g);
}
