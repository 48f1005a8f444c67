/* test_people.c: the simulators' population (src/sim/sim_people.c) — the same seed gives the
 * same people, every ID number is a valid 公民身份号码 that agrees with the person's sex,
 * birth date and 户籍, lookups find everyone, and the population has the residents the
 * simulated rules need (eligible elders, non-hukou residents, disability certificates). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sensitive/sensitive.h"
#include "sim/sim_int.h"

static bool luhn(const char *s)
{
	size_t n = strlen(s);
	int sum = 0;
	for (size_t i = 0; i < n; i++) {
		int d = s[n - 1 - i] - '0';
		if (i % 2) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return n > 0 && sum % 10 == 0;
}

static void test_check_character(void **state)
{
	/* DOMAIN.md's sample and a check digit of 0 */
	assert_int_equal(sim_id_check("11010519491231002"), 'X');
	assert_int_equal(sim_id_check("31010419500101001"), '3');
	char id[19] = "31011519560808004";
	id[17] = sim_id_check(id);
	id[18] = 0;
	assert_true(sensitive_id_number_valid(id));
	id[17] = id[17] == '1' ? '2' : '1';
	assert_false(sensitive_id_number_valid(id));
}

static void test_same_seed_same_people(void **state)
{
	struct sim_people a, b, c;
	assert_int_equal(sim_people_build(&a, 42, 300), ERR_OK);
	assert_int_equal(sim_people_build(&b, 42, 300), ERR_OK);
	assert_int_equal(sim_people_build(&c, 43, 300), ERR_OK);
	assert_int_equal(a.npeople, b.npeople);
	assert_int_equal(a.nhouseholds, 300);
	for (int i = 0; i < a.npeople; i++) {
		assert_string_equal(a.people[i].id_number, b.people[i].id_number);
		assert_string_equal(a.people[i].name, b.people[i].name);
		assert_string_equal(a.people[i].address, b.people[i].address);
		assert_string_equal(a.people[i].phone, b.people[i].phone);
		assert_int_equal(a.people[i].contribution_months, b.people[i].contribution_months);
		assert_int_equal(a.people[i].disability_kind, b.people[i].disability_kind);
	}
	for (int i = 0; i < a.nhouseholds; i++)
		assert_string_equal(a.households[i].no, b.households[i].no);
	/* another seed, other people */
	int same = 0;
	for (int i = 0; i < a.npeople && i < c.npeople; i++)
		same += !strcmp(a.people[i].id_number, c.people[i].id_number);
	assert_true(same < a.npeople / 10);
	sim_people_release(&a);
	sim_people_release(&b);
	sim_people_release(&c);
}

static void test_ids_valid_and_consistent(void **state)
{
	struct sim_people p;
	assert_int_equal(sim_people_build(&p, 1, 1200), ERR_OK);
	assert_true(p.npeople > 2000);
	for (int i = 0; i < p.npeople; i++) {
		const struct sim_person *w = &p.people[i];
		assert_true(sensitive_id_number_valid(w->id_number));
		/* the sequence digit is odd for men */
		int seq = w->id_number[16] - '0';
		assert_int_equal(seq % 2, w->gender == 'M' ? 1 : 0);
		char birth[24], digits[9];
		sim_person_birth(w, birth);
		snprintf(digits, sizeof(digits), "%.4s%.2s%.2s", birth, birth + 5, birth + 8);
		assert_memory_equal(w->id_number + 6, digits, 8);
		/* a Shanghai 户籍 carries a Shanghai district code; others do not */
		if (w->hukou_sh) {
			char code[7];
			snprintf(code, sizeof(code), "%.6s", w->id_number);
			assert_string_not_equal(sim_district_name(code), "");
		} else {
			assert_memory_not_equal(w->id_number, "31", 2);
		}
		assert_string_not_equal(sim_district_name(w->district), "");
		assert_non_null(strstr(w->address, sim_district_name(w->district)));
		if (w->phone[0])
			assert_true(sensitive_phone_valid(w->phone));
		if (w->bank_account[0])
			assert_true(luhn(w->bank_account));
		if (w->disability_kind) {
			assert_int_equal(strlen(w->disability_cert), 20);
			assert_memory_equal(w->disability_cert, w->id_number, 18);
		}
		assert_ptr_equal(sim_people_find(&p, w->id_number), w);
	}
	assert_null(sim_people_find(&p, "11010519491231002X"));
	assert_null(sim_people_find(&p, "short"));
	sim_people_release(&p);
}

static void test_households_hold_together(void **state)
{
	struct sim_people p;
	assert_int_equal(sim_people_build(&p, 7, 500), ERR_OK);
	int total = 0;
	for (int h = 0; h < p.nhouseholds; h++) {
		const struct sim_household *hh = &p.households[h];
		assert_true(hh->n >= 1 && hh->n <= 5);
		assert_int_equal(hh->first, total);
		assert_int_equal(strlen(hh->no), 12);
		assert_string_equal(p.people[hh->first].relation, "户主");
		for (int i = hh->first; i < hh->first + hh->n; i++) {
			assert_int_equal(p.people[i].household, h);
			assert_ptr_equal(sim_people_household(&p, &p.people[i]), hh);
			assert_int_equal(p.people[i].hukou_sh, hh->hukou_sh);
		}
		total += hh->n;
	}
	assert_int_equal(total, p.npeople);
	sim_people_release(&p);
}

/* The rules of the simulated systems need each kind of resident to exist. */
static void test_population_has_every_kind(void **state)
{
	struct sim_people p;
	assert_int_equal(sim_people_build(&p, 1, 1200), ERR_OK);
	int eligible = 0, enrolled = 0, young = 0, migrants = 0, disabled = 0, leases = 0;
	int dorms = 0, dibao = 0, deceased = 0, employees = 0, residents = 0;
	for (int i = 0; i < p.npeople; i++) {
		const struct sim_person *w = &p.people[i];
		int age = sim_person_age(w, 2026, 1, 1);
		eligible += w->hukou_sh && age >= 65 && !w->deceased && !w->allowance_enrolled;
		enrolled += w->allowance_enrolled;
		young += age < 18;
		migrants += !w->hukou_sh;
		disabled += w->disability_kind != 0;
		leases += w->lease_filing[0] != 0;
		dorms += w->housing == 3;
		dibao += w->dibao;
		deceased += w->deceased;
		employees += w->insured == SIM_INS_EMPLOYEE;
		residents += w->insured == SIM_INS_RESIDENT;
		if (w->allowance_enrolled)
			assert_true(w->hukou_sh && age >= 65);
		if (w->lease_filing[0])
			assert_int_equal(w->housing, 1);
	}
	assert_true(eligible >= 20);
	assert_true(enrolled >= 100);
	assert_true(young >= 100);
	assert_true(migrants >= p.npeople / 10);
	assert_true(disabled >= 20);
	assert_true(leases >= 30);
	assert_true(dorms >= 10);
	assert_true(dibao >= 5);
	assert_true(deceased >= 1);
	assert_true(employees > residents && residents > 0);
	sim_people_release(&p);
}

static void test_age_counts_birthdays(void **state)
{
	struct sim_person w;
	memset(&w, 0, sizeof(w));
	w.birth_y = 1960;
	w.birth_m = 3;
	w.birth_d = 15;
	assert_int_equal(sim_person_age(&w, 2025, 3, 14), 64);
	assert_int_equal(sim_person_age(&w, 2025, 3, 15), 65);
	assert_int_equal(sim_person_age(&w, 2025, 12, 31), 65);
	/* 2026-11-29 00:00 +08:00 is 2026-11-28 16:00 UTC */
	int y, m, d;
	sim_today(1795881600000LL, &y, &m, &d);
	assert_int_equal(y, 2026);
	assert_int_equal(m, 11);
	assert_int_equal(d, 29);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_character),
	    cmocka_unit_test(test_same_seed_same_people),
	    cmocka_unit_test(test_ids_valid_and_consistent),
	    cmocka_unit_test(test_households_hold_together),
	    cmocka_unit_test(test_population_has_every_kind),
	    cmocka_unit_test(test_age_counts_birthdays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
