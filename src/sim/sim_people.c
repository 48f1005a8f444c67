/* sim_people.c: the deterministic population of the simulators — households of residents
 * with valid 公民身份号码, names, birth dates, phones, addresses in real districts and
 * streets of Shanghai, and what the external systems know of each (social insurance,
 * medical insurance, civil affairs, disability, police). Everything comes from one seeded
 * generator run in a fixed order, so the same seed gives the same people on every machine.
 *
 * Ages are drawn against a fixed reference date (REF_YEAR-01-01), not today: the people do
 * not change from one day to the next, they only grow older. */
#include "sim/sim_int.h"

#include "core/str.h"
#include "core/timeutil.h"

#include <time.h>

#define REF_YEAR 2025

/* ---- randomness ---- */

void sim_rng_seed(struct sim_rng *g, uint64_t seed)
{
	g->s = seed ^ 0x53484f554c49ULL; /* "SHOULI" */
}

uint64_t sim_rng_next(struct sim_rng *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint32_t sim_rng_below(struct sim_rng *g, uint32_t n)
{
	return (uint32_t)(sim_rng_next(g) % n);
}

double sim_rng_unit(struct sim_rng *g)
{
	return (double)(sim_rng_next(g) >> 11) / 9007199254740992.0;
}

uint64_t sim_hash(uint64_t seed, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	struct sim_rng g = {h};
	return sim_rng_next(&g);
}

/* ---- tables ---- */

struct district {
	const char *code, *name;
	int weight;
	const char *streets[8];
	const char *roads[8];
};

/* The 16 districts (codes in DOMAIN.md), with real streets/towns and roads of each. */
static const struct district districts[] = {
    {"310101",
     "黄浦区",
     5,
     {"南京东路街道", "外滩街道", "半淞园路街道", "小东门街道", "豫园街道", "老西门街道",
      "五里桥街道", "打浦桥街道"},
     {"河南中路", "复兴东路", "中华路", "西藏南路", "瑞金二路", "建国中路", "丽园路", "制造局路"}},
    {"310104",
     "徐汇区",
     9,
     {"天平路街道", "湖南路街道", "斜土路街道", "枫林路街道", "长桥街道", "田林街道",
      "康健新村街道", "漕河泾街道"},
     {"漕溪北路", "天钥桥路", "宛平南路", "龙华西路", "田林路", "钦州路", "凌云路", "零陵路"}},
    {"310105",
     "长宁区",
     6,
     {"华阳路街道", "江苏路街道", "新华路街道", "周家桥街道", "天山路街道", "仙霞新村街道",
      "虹桥街道", "北新泾街道"},
     {"愚园路", "长宁路", "天山路", "仙霞路", "延安西路", "虹桥路", "剑河路", "北渔路"}},
    {"310106",
     "静安区",
     8,
     {"江宁路街道", "石门二路街道", "南京西路街道", "曹家渡街道", "天目西路街道", "北站街道",
      "大宁路街道", "彭浦新村街道"},
     {"江宁路", "西康路", "常德路", "共和新路", "临汾路", "大宁路", "万荣路", "延长中路"}},
    {"310107",
     "普陀区",
     8,
     {"曹杨新村街道", "长风新村街道", "长寿路街道", "甘泉路街道", "石泉路街道", "宜川路街道",
      "万里街道", "真如镇街道"},
     {"兰溪路", "枣阳路", "长寿路", "宜川路", "甘泉路", "真北路", "曹杨路", "桃浦路"}},
    {"310109",
     "虹口区",
     6,
     {"欧阳路街道", "曲阳路街道", "广中路街道", "嘉兴路街道", "凉城新村街道", "四川北路街道",
      "北外滩街道", "江湾镇街道"},
     {"四川北路", "欧阳路", "曲阳路", "广中路", "凉城路", "水电路", "海伦路", "大连西路"}},
    {"310110",
     "杨浦区",
     10,
     {"定海路街道", "平凉路街道", "江浦路街道", "四平路街道", "控江路街道", "长白新村街道",
      "延吉新村街道", "殷行街道"},
     {"控江路", "延吉中路", "国和路", "殷行路", "长白路", "黄兴路", "四平路", "平凉路"}},
    {"310112",
     "闵行区",
     12,
     {"江川路街道", "古美街道", "新虹街道", "浦锦街道", "莘庄镇", "七宝镇", "颛桥镇", "梅陇镇"},
     {"莘松路", "七莘路", "古美路", "顾戴路", "沪闵路", "都市路", "江川路", "浦锦路"}},
    {"310113",
     "宝山区",
     10,
     {"友谊路街道", "吴淞街道", "张庙街道", "庙行镇", "淞南镇", "高境镇", "大场镇", "顾村镇"},
     {"友谊路", "牡丹江路", "泰和路", "通河路", "共康路", "场中路", "水产路", "长江西路"}},
    {"310114",
     "嘉定区",
     7,
     {"新成路街道", "真新街道", "嘉定镇街道", "菊园新区", "南翔镇", "安亭镇", "马陆镇", "江桥镇"},
     {"城中路", "博乐路", "清河路", "曹安公路", "墨玉路", "宝安公路", "金沙江西路", "叶城路"}},
    {"310115",
     "浦东新区",
     22,
     {"潍坊新村街道", "陆家嘴街道", "周家渡街道", "塘桥街道", "上钢新村街道", "花木街道",
      "川沙新镇", "张江镇"},
     {"潍坊路", "崂山路", "浦东南路", "东方路", "杨高南路", "金杨路", "锦绣路", "成山路"}},
    {"310116",
     "金山区",
     3,
     {"石化街道", "朱泾镇", "枫泾镇", "张堰镇", "亭林镇", "吕巷镇", "金山卫镇", "漕泾镇"},
     {"卫零路", "蒙山路", "龙皓路", "板桥西路", "亭卫公路", "新农路", "金一东路", "朱平公路"}},
    {"310117",
     "松江区",
     8,
     {"岳阳街道", "永丰街道", "方松街道", "中山街道", "广富林街道", "九里亭街道", "泗泾镇",
      "九亭镇"},
     {"中山中路", "人民北路", "荣乐东路", "谷阳北路", "玉树路", "新松江路", "沪亭北路", "泗通路"}},
    {"310118",
     "青浦区",
     5,
     {"夏阳街道", "盈浦街道", "香花桥街道", "朱家角镇", "练塘镇", "金泽镇", "赵巷镇", "徐泾镇"},
     {"公园路", "城中北路", "青松路", "外青松公路", "盈港东路", "华青路", "淀山湖大道",
      "崧泽大道"}},
    {"310120",
     "奉贤区",
     5,
     {"西渡街道", "奉浦街道", "金海街道", "南桥镇", "奉城镇", "庄行镇", "金汇镇", "四团镇"},
     {"南桥路", "环城东路", "解放东路", "江海路", "百齐路", "运河北路", "金海公路", "望园路"}},
    {"310151",
     "崇明区",
     3,
     {"城桥镇", "堡镇", "新河镇", "庙镇", "竖新镇", "向化镇", "陈家镇", "长兴镇"},
     {"八一路", "人民路", "东门路", "北门路", "乔松路", "鼓浪屿路", "翠竹路", "城桥路"}},
};
#define NDISTRICTS ((int)(sizeof(districts) / sizeof(districts[0])))

/* Origins of non-Shanghai residents: address code and the place it names. */
static const struct {
	const char *code, *place;
} origins[] = {
    {"320102", "江苏省南京市玄武区"},     {"320583", "江苏省昆山市"},
    {"330106", "浙江省杭州市西湖区"},     {"340104", "安徽省合肥市蜀山区"},
    {"341203", "安徽省阜阳市颍东区"},     {"360102", "江西省南昌市东湖区"},
    {"370102", "山东省济南市历下区"},     {"410105", "河南省郑州市金水区"},
    {"411502", "河南省信阳市浉河区"},     {"420106", "湖北省武汉市武昌区"},
    {"430104", "湖南省长沙市岳麓区"},     {"510107", "四川省成都市武侯区"},
    {"500103", "重庆市渝中区"},           {"350102", "福建省福州市鼓楼区"},
    {"230102", "黑龙江省哈尔滨市道里区"},
};
#define NORIGINS ((int)(sizeof(origins) / sizeof(origins[0])))

static const char *const other_roads[] = {"人民路", "解放路", "建设路", "中山路",
                                          "和平路", "新华路", "胜利路", "文化路"};

static const char *const surnames[] = {"张", "王", "陈", "李", "徐", "沈", "朱", "周", "陆", "顾",
                                       "吴", "金", "黄", "杨", "刘", "赵", "孙", "钱", "胡", "蒋",
                                       "施", "唐", "曹", "姚", "范", "俞", "许", "潘", "邱", "郁",
                                       "瞿", "倪", "龚", "凌", "杜", "何", "宋", "袁", "戴", "卫"};

/* Given names by sex and birth era (before 1960, 1960–1989, from 1990). */
static const char *const given[2][3][20] = {
    {{"建国", "国华", "根宝", "金宝", "志明", "德明", "福根", "永康", "荣发", "伟民",
      "国强", "建华", "海林", "德兴", "文彬", "振华", "庆余", "长林", "宝根", "鸿章"},
     {"伟",   "军",   "勇",   "斌",   "磊",   "涛",   "强",   "杰",   "俊杰", "海峰",
      "晓东", "志刚", "建军", "卫东", "明华", "立新", "文杰", "振宇", "晓明", "永刚"},
     {"浩然", "子轩", "宇轩", "俊熙", "一鸣", "梓豪", "皓轩", "思远", "嘉诚", "天佑",
      "睿",   "博文", "子墨", "晨阳", "奕辰", "宇航", "明哲", "家豪", "逸飞", "哲瀚"}},
    {{"秀英", "桂英", "美华", "凤英", "玉珍", "月娥", "雅芳", "素珍", "爱珍", "小妹",
      "翠英", "金凤", "惠珍", "美娣", "彩娣", "宝娣", "丽华", "玉兰", "淑芬", "佩芳"},
     {"丽",   "敏",   "静",   "燕", "红", "芳", "洁", "艳",   "晓燕", "丽娟",
      "海燕", "婷婷", "慧敏", "雯", "佳", "琳", "颖", "蓓蕾", "晓红", "春燕"},
     {"欣怡", "梓涵", "子涵", "诗涵", "雨桐", "可馨", "思琪", "佳怡", "一诺", "语嫣",
      "梦瑶", "若曦", "静怡", "雨萱", "嘉欣", "晨曦", "悦",   "妍",   "乐瑶", "芷若"}},
};

static const char *const nations[] = {"汉族", "回族", "满族", "蒙古族", "朝鲜族", "壮族"};

static const char *const employers[] = {
    "上海浦江电子科技有限公司",     "上海申城物业管理有限公司",   "上海东海精密机械有限公司",
    "上海长风物流有限公司",         "上海黄浦江建设工程有限公司", "上海新沪餐饮管理有限公司",
    "上海徐汇区社区卫生服务中心",   "上海云泽信息技术有限公司",   "上海华亭纺织品有限公司",
    "上海临港智能装备有限公司",     "上海虹桥商务咨询有限公司",   "上海申通快递服务有限公司",
    "上海静安区第一中心小学",       "上海宝钢配套服务有限公司",   "上海杨浦区图书馆",
    "上海松江汽车零部件有限公司",   "上海浦东软件园发展有限公司", "上海明珠超市有限公司",
    "上海嘉定环境卫生服务有限公司", "上海新江湾医药有限公司",
};
#define NEMPLOYERS ((int)(sizeof(employers) / sizeof(employers[0])))

static const struct {
	const char *name, *bin;
} banks[] = {
    {"中国工商银行", "622202"}, {"中国农业银行", "622848"}, {"中国银行", "621661"},
    {"中国建设银行", "621700"}, {"交通银行", "622262"},     {"上海银行", "622892"},
    {"上海农商银行", "621523"}, {"招商银行", "621483"},     {"中国邮政储蓄银行", "621799"},
};
#define NBANKS ((int)(sizeof(banks) / sizeof(banks[0])))

static const char *const phone_prefixes[] = {
    "139", "138", "137", "136", "135", "159", "158", "157", "152", "151", "150", "188", "187",
    "186", "185", "183", "182", "181", "180", "177", "176", "173", "199", "189", "133", "153"};

static const char *const disability_kinds[] = {"",         "视力残疾", "听力残疾", "言语残疾",
                                               "肢体残疾", "智力残疾", "精神残疾", "多重残疾"};

const char *sim_district_name(const char *code)
{
	for (int i = 0; i < NDISTRICTS; i++)
		if (code && !strcmp(districts[i].code, code))
			return districts[i].name;
	return "";
}

const char *sim_street_name(int district_idx, int street_idx)
{
	if (district_idx < 0 || district_idx >= NDISTRICTS || street_idx < 0 || street_idx >= 8)
		return "";
	return districts[district_idx].streets[street_idx];
}

const char *sim_employer_name(int idx)
{
	return idx >= 0 && idx < NEMPLOYERS ? employers[idx] : "";
}

const char *sim_disability_kind_name(int kind)
{
	return kind > 0 && kind <= 7 ? disability_kinds[kind] : "";
}

/* ---- ID numbers ---- */

char sim_id_check(const char *first17)
{
	return str_mod11_2(first17);
}

int sim_person_age(const struct sim_person *who, int y, int m, int d)
{
	int age = y - who->birth_y;
	if (m < who->birth_m || (m == who->birth_m && d < who->birth_d))
		age--;
	return age;
}

void sim_today(int64_t now_ms, int *y, int *m, int *d)
{
	time_t t = (time_t)(now_ms / 1000) + 8 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	*y = tm.tm_year + 1900;
	*m = tm.tm_mon + 1;
	*d = tm.tm_mday;
}

void sim_person_birth(const struct sim_person *who, char out[24])
{
	snprintf(out, 24, "%04d-%02d-%02d", who->birth_y, who->birth_m, who->birth_d);
}

/* ---- the generator ---- */

struct gen {
	struct sim_rng g;
	struct sim_people *p;
	int cap;
};

static uint64_t id_hash(const char *id)
{
	return sim_hash(0, id);
}

static bool index_has(const struct sim_people *p, const char *id)
{
	return sim_people_find(p, id) != NULL;
}

static void index_put(struct sim_people *p, int person)
{
	uint64_t h = id_hash(p->people[person].id_number);
	for (int k = (int)(h & (uint64_t)(p->nindex - 1));; k = (k + 1) & (p->nindex - 1))
		if (p->index[k] < 0) {
			p->index[k] = person;
			return;
		}
}

const struct sim_person *sim_people_find(const struct sim_people *p, const char *id_number)
{
	if (!id_number || strlen(id_number) != 18 || !p->nindex)
		return NULL;
	uint64_t h = id_hash(id_number);
	for (int k = (int)(h & (uint64_t)(p->nindex - 1));; k = (k + 1) & (p->nindex - 1)) {
		int i = p->index[k];
		if (i < 0)
			return NULL;
		if (!strcmp(p->people[i].id_number, id_number))
			return &p->people[i];
	}
}

const struct sim_household *sim_people_household(const struct sim_people *p,
                                                 const struct sim_person *who)
{
	return who->household >= 0 && who->household < p->nhouseholds
	           ? &p->households[who->household]
	           : NULL;
}

static int pick_weighted(struct sim_rng *g, const int *w, int n)
{
	int total = 0;
	for (int i = 0; i < n; i++)
		total += w[i];
	int r = (int)sim_rng_below(g, (uint32_t)total);
	for (int i = 0; i < n; i++) {
		if (r < w[i])
			return i;
		r -= w[i];
	}
	return n - 1;
}

static void digits(struct sim_rng *g, char *out, int n)
{
	for (int i = 0; i < n; i++)
		out[i] = (char)('0' + sim_rng_below(g, 10));
	out[n] = 0;
}

/* A bank card number: the bank's BIN, 12 random digits, the Luhn check digit. */
static void bank_account(struct sim_rng *g, const char *bin, char out[20])
{
	char num[20];
	int n = snprintf(num, sizeof(num), "%s", bin);
	digits(g, num + n, 18 - n);
	int sum = 0;
	for (int i = 17, dbl = 1; i >= 0; i--, dbl = !dbl) {
		int d = num[i] - '0';
		if (dbl) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	num[18] = (char)('0' + (10 - sum % 10) % 10);
	num[19] = 0;
	memcpy(out, num, 20);
}

struct hh_ctx {
	int district;
	int street;
	const char *origin_code;  /* non-hukou: the origin's address code */
	const char *origin_place; /* non-hukou: the origin's name */
	bool hukou_sh;
	const char *surname;
	char address[128];
	char hukou_address[128];
	bool dibao;
};

static void make_address(struct sim_rng *g, const struct district *d, char *out, size_t n)
{
	const char *road = d->roads[sim_rng_below(g, 8)];
	int floor = 1 + (int)sim_rng_below(g, 18), room = 1 + (int)sim_rng_below(g, 4);
	if (sim_rng_below(g, 3))
		snprintf(out, n, "上海市%s%s%u弄%u号%d%02d室", d->name, road,
		         1 + sim_rng_below(g, 1200), 1 + sim_rng_below(g, 60), floor, room);
	else
		snprintf(out, n, "上海市%s%s%u号%d%02d室", d->name, road, 1 + sim_rng_below(g, 900),
		         floor, room);
}

/* Add one person of age (at REF_YEAR-01-01) and sex to the current household. */
static struct sim_person *add_person(struct gen *G, struct hh_ctx *hh, int hh_idx, int age,
                                     char sex, const char *surname, const char *relation)
{
	struct sim_people *p = G->p;
	struct sim_rng *g = &G->g;
	if (p->npeople == G->cap)
		return NULL;
	struct sim_person *who = &p->people[p->npeople];
	memset(who, 0, sizeof(*who));
	who->gender = sex;
	who->household = hh_idx;
	who->relation = relation;
	who->birth_y = (int16_t)(REF_YEAR - 1 - age);
	who->birth_m = (int8_t)(1 + sim_rng_below(g, 12));
	who->birth_d = (int8_t)(1 + sim_rng_below(g, (uint32_t)time_days_in_month(who->birth_y,
	                                                                          who->birth_m)));
	who->nation = (int8_t)(sim_rng_below(g, 50) ? 0 : 1 + sim_rng_below(g, 5));
	int era = who->birth_y < 1960 ? 0 : who->birth_y < 1990 ? 1 : 2;
	snprintf(who->name, sizeof(who->name), "%s%s", surname,
	         given[sex == 'F'][era][sim_rng_below(g, 20)]);
	const char *code = hh->hukou_sh ? districts[hh->district].code : hh->origin_code;
	for (int tries = 0;; tries++) {
		char first[18];
		int seq = (int)sim_rng_below(g, 500) * 2 + (sex == 'M' ? 1 : 0);
		snprintf(first, sizeof(first), "%s%04d%02d%02d%03d", code, who->birth_y,
		         who->birth_m, who->birth_d, seq);
		snprintf(who->id_number, sizeof(who->id_number), "%s%c", first,
		         sim_id_check(first));
		if (!index_has(p, who->id_number) || tries > 200)
			break;
	}
	if (age >= 10) {
		char tail[9];
		digits(g, tail, 8);
		snprintf(who->phone, sizeof(who->phone), "%s%s",
		         phone_prefixes[sim_rng_below(g, sizeof(phone_prefixes) /
		                                             sizeof(phone_prefixes[0]))],
		         tail);
	}
	snprintf(who->district, sizeof(who->district), "%s", districts[hh->district].code);
	who->district_idx = (int8_t)hh->district;
	who->street_idx = (int8_t)hh->street;
	snprintf(who->address, sizeof(who->address), "%s", hh->address);
	snprintf(who->hukou_address, sizeof(who->hukou_address), "%s", hh->hukou_address);
	who->hukou_sh = hh->hukou_sh;
	who->deceased = age >= 80 && sim_rng_below(g, 100) < 4;
	who->employer = -1;

	/* 社保: pension insurance by age and 户籍 */
	bool retired = age >= (sex == 'M' ? 60 : 55);
	if (age >= 18 && !retired) {
		int r = (int)sim_rng_below(g, 100);
		if (!hh->hukou_sh ? r < 85 : r < 80) {
			who->insured = SIM_INS_EMPLOYEE;
			who->ins_status =
			    sim_rng_below(g, 100) < 88 ? SIM_INS_PAYING : SIM_INS_SUSPENDED;
			who->employer = (int16_t)sim_rng_below(g, NEMPLOYERS);
			int years = age > 22 ? age - 22 : 0;
			who->contribution_months =
			    (int16_t)(years * 12 * (70 + (int)sim_rng_below(g, 31)) / 100 +
			              (int)sim_rng_below(g, 12));
		} else if (hh->hukou_sh && r < 92) {
			who->insured = SIM_INS_RESIDENT;
			who->ins_status = SIM_INS_PAYING;
			who->contribution_months =
			    (int16_t)((age - 18) * 12 * (30 + (int)sim_rng_below(g, 50)) / 100);
		}
	} else if (retired && hh->hukou_sh) {
		int r = (int)sim_rng_below(g, 100);
		if (r < 78) {
			who->insured = SIM_INS_EMPLOYEE;
			who->contribution_months = (int16_t)(180 + sim_rng_below(g, 301));
			who->pension_cents = (int32_t)((3500 + sim_rng_below(g, 5500)) * 100);
		} else if (r < 96) {
			who->insured = SIM_INS_RESIDENT;
			who->contribution_months = (int16_t)(60 + sim_rng_below(g, 121));
			who->pension_cents = (int32_t)((1300 + sim_rng_below(g, 700)) * 100);
		}
		who->ins_status = SIM_INS_RETIRED;
	}
	if (who->deceased && who->insured)
		who->ins_status = SIM_INS_ENDED;

	/* 医保: everyone with a Shanghai 户籍 or a job here, but a few */
	if ((hh->hukou_sh || who->insured == SIM_INS_EMPLOYEE) && sim_rng_below(g, 100) < 97) {
		snprintf(who->medical_region, sizeof(who->medical_region), "%s",
		         districts[hh->district].code);
		char num[10];
		digits(g, num, 9);
		snprintf(who->si_card, sizeof(who->si_card), "S%s", num);
		int base = who->insured == SIM_INS_EMPLOYEE ? 20000 : 3000;
		who->medical_balance_cents =
		    (int32_t)((base + (int)sim_rng_below(g, 1000000)) % 1500000);
	}

	/* 民政 */
	who->dibao = hh->dibao;
	who->allowance_enrolled =
	    hh->hukou_sh && !who->deceased && age >= 66 && sim_rng_below(g, 100) < 85;
	if (who->allowance_enrolled || (age >= 18 && sim_rng_below(g, 2))) {
		int b = (int)sim_rng_below(g, NBANKS);
		snprintf(who->bank, sizeof(who->bank), "%s", banks[b].name);
		bank_account(g, banks[b].bin, who->bank_account);
	}

	/* 残联: the certificate is issued where the 户籍 is */
	if (hh->hukou_sh && sim_rng_below(g, 1000) < (age >= 60 ? 60u : 20u)) {
		static const int kw[7] = {15, 15, 3, 35, 10, 12, 10};
		static const int lw[4] = {15, 25, 30, 30};
		who->disability_kind = (int8_t)(1 + pick_weighted(g, kw, 7));
		who->disability_level = (int8_t)(1 + pick_weighted(g, lw, 4));
		snprintf(who->disability_cert, sizeof(who->disability_cert), "%.18s%c%c",
		         who->id_number, '0' + who->disability_kind, '0' + who->disability_level);
		int from = who->birth_y + 1 > 2008 ? who->birth_y + 1 : 2008;
		who->disability_issued_y =
		    (int16_t)(from >= 2024 ? 2024
		                           : from + (int)sim_rng_below(g, (uint32_t)(2025 - from)));
	}

	/* 公安 */
	if (hh->hukou_sh && age >= 60 && !who->deceased) {
		char num[11];
		digits(g, num, 10);
		snprintf(who->elder_card, sizeof(who->elder_card), "JL%s", num);
	}

	/* 税务: resident insurance premiums by bank deduction */
	who->deduct_agreement = who->insured == SIM_INS_RESIDENT &&
	                        who->ins_status == SIM_INS_PAYING && sim_rng_below(g, 100) < 70;
	p->npeople++;
	index_put(p, p->npeople - 1);
	return who;
}

static int age_between(struct sim_rng *g, int lo, int hi)
{
	return lo + (int)sim_rng_below(g, (uint32_t)(hi - lo + 1));
}

static const char *pick_surname(struct sim_rng *g)
{
	return surnames[sim_rng_below(g, sizeof(surnames) / sizeof(surnames[0]))];
}

/* One household of the given structure. */
static void make_household(struct gen *G, int hh_idx)
{
	struct sim_rng *g = &G->g;
	struct sim_people *p = G->p;
	struct sim_household *h = &p->households[hh_idx];
	struct hh_ctx hh;
	memset(&hh, 0, sizeof(hh));
	int dw[NDISTRICTS];
	for (int i = 0; i < NDISTRICTS; i++)
		dw[i] = districts[i].weight;
	hh.district = pick_weighted(g, dw, NDISTRICTS);
	hh.street = (int)sim_rng_below(g, 8);
	hh.hukou_sh = sim_rng_below(g, 100) < 78;
	const struct district *d = &districts[hh.district];
	make_address(g, d, hh.address, sizeof(hh.address));
	if (hh.hukou_sh) {
		if (sim_rng_below(g, 100) < 82)
			snprintf(hh.hukou_address, sizeof(hh.hukou_address), "%s", hh.address);
		else /* 人户分离: registered elsewhere in the city */
			make_address(g, &districts[sim_rng_below(g, NDISTRICTS)], hh.hukou_address,
			             sizeof(hh.hukou_address));
		hh.dibao = sim_rng_below(g, 100) < 3;
	} else {
		int o = (int)sim_rng_below(g, NORIGINS);
		hh.origin_code = origins[o].code;
		hh.origin_place = origins[o].place;
		snprintf(hh.hukou_address, sizeof(hh.hukou_address), "%s%s%u号", origins[o].place,
		         other_roads[sim_rng_below(g, 8)], 1 + sim_rng_below(g, 300));
	}
	const char *sur = pick_surname(g);
	h->first = p->npeople;
	h->hukou_sh = hh.hukou_sh;
	snprintf(h->district, sizeof(h->district), "%s", d->code);
	h->district_idx = (int8_t)hh.district;
	h->street_idx = (int8_t)hh.street;
	snprintf(h->address, sizeof(h->address), "%s", hh.address);
	char no[10];
	digits(g, no, 9);
	snprintf(h->no, sizeof(h->no), "%.3s%s", d->code + 3, no);

	/* single elder, elder couple, family, three generations, single adult, young couple */
	static const int w_sh[6] = {18, 17, 28, 15, 12, 10};
	static const int w_other[6] = {0, 0, 40, 0, 35, 25};
	int kind = pick_weighted(g, hh.hukou_sh ? w_sh : w_other, 6);
	char head_sex = sim_rng_below(g, 2) ? 'M' : 'F';
	char other = head_sex == 'M' ? 'F' : 'M';
	const char *spouse_rel = head_sex == 'M' ? "妻" : "夫";
	/* children carry the father's surname */
	const char *spouse_sur = pick_surname(g);
	const char *child_sur = head_sex == 'M' ? sur : spouse_sur;
	int8_t housing = 0;
	if (!hh.hukou_sh) {
		static const int hw[4] = {60, 10, 20, 10};
		housing = (int8_t)(1 + pick_weighted(g, hw, 4));
	}
	switch (kind) {
	case 0: add_person(G, &hh, hh_idx, age_between(g, 65, 98), head_sex, sur, "户主"); break;
	case 1: {
		int a = age_between(g, 62, 95);
		add_person(G, &hh, hh_idx, a, head_sex, sur, "户主");
		add_person(G, &hh, hh_idx, age_between(g, a - 5 < 58 ? 58 : a - 5, a + 3), other,
		           spouse_sur, spouse_rel);
		break;
	}
	case 2:
	case 3: {
		int a = age_between(g, 28, kind == 3 ? 58 : 60);
		add_person(G, &hh, hh_idx, a, head_sex, sur, "户主");
		add_person(G, &hh, hh_idx, age_between(g, a - 4, a + 3), other, spouse_sur,
		           spouse_rel);
		int nkids = 1 + (sim_rng_below(g, 100) < 30);
		for (int k = 0; k < nkids; k++) {
			char s = sim_rng_below(g, 2) ? 'M' : 'F';
			int ka = age_between(g, 0, a - 24 > 0 ? a - 24 : 0);
			add_person(G, &hh, hh_idx, ka, s, child_sur, s == 'M' ? "子" : "女");
		}
		if (kind == 3) {
			char s = sim_rng_below(g, 2) ? 'M' : 'F';
			add_person(G, &hh, hh_idx, age_between(g, a + 22 < 65 ? 65 : a + 22, 96), s,
			           s == 'M' ? sur : pick_surname(g), s == 'M' ? "父" : "母");
		}
		break;
	}
	case 4: add_person(G, &hh, hh_idx, age_between(g, 22, 60), head_sex, sur, "户主"); break;
	default: {
		int a = age_between(g, 24, 38);
		add_person(G, &hh, hh_idx, a, head_sex, sur, "户主");
		add_person(G, &hh, hh_idx, age_between(g, a - 3, a + 3), other, spouse_sur,
		           spouse_rel);
		break;
	}
	}
	h->n = p->npeople - h->first;
	for (int i = h->first; i < p->npeople; i++) {
		struct sim_person *who = &p->people[i];
		who->housing = housing;
		if (housing == 1) {
			char num[10];
			digits(g, num, 9);
			snprintf(who->lease_filing, sizeof(who->lease_filing), "2024%.3s%s",
			         d->code + 3, num);
			/* the whole household shares the filing of its lease */
			if (i > h->first)
				memcpy(who->lease_filing, p->people[h->first].lease_filing,
				       sizeof(who->lease_filing));
		}
	}
}

enum err sim_people_build(struct sim_people *p, uint64_t seed, int nhouseholds)
{
	memset(p, 0, sizeof(*p));
	if (nhouseholds < 1)
		nhouseholds = 1;
	struct gen G;
	sim_rng_seed(&G.g, seed);
	G.p = p;
	G.cap = nhouseholds * 5;
	p->people = calloc((size_t)G.cap, sizeof(*p->people));
	p->households = calloc((size_t)nhouseholds, sizeof(*p->households));
	p->nindex = 16;
	while (p->nindex < G.cap * 2)
		p->nindex *= 2;
	p->index = malloc((size_t)p->nindex * sizeof(int));
	if (!p->people || !p->households || !p->index) {
		sim_people_release(p);
		return ERR_NOMEM;
	}
	for (int i = 0; i < p->nindex; i++)
		p->index[i] = -1;
	for (int i = 0; i < nhouseholds; i++) {
		make_household(&G, i);
		p->nhouseholds++;
	}
	return ERR_OK;
}

void sim_people_release(struct sim_people *p)
{
	free(p->people);
	free(p->households);
	free(p->index);
	memset(p, 0, sizeof(*p));
}

/* ---- JSON views ---- */

static const char *insured_name(enum sim_insured i)
{
	return i == SIM_INS_EMPLOYEE   ? "城镇职工基本养老保险"
	       : i == SIM_INS_RESIDENT ? "城乡居民基本养老保险"
	                               : "未参保";
}

static const char *ins_status_name(const struct sim_person *w)
{
	if (w->insured == SIM_INS_NONE)
		return "未参保";
	switch (w->ins_status) {
	case SIM_INS_PAYING: return "参保缴费";
	case SIM_INS_SUSPENDED: return "暂停缴费";
	case SIM_INS_RETIRED: return "待遇享受";
	default: return "终止参保";
	}
}

static json_t *money(int64_t cents)
{
	return json_real((double)cents / 100.0);
}

json_t *sim_person_json(const struct sim_people *p, const struct sim_person *w, bool sections,
                        int64_t now_ms)
{
	int y, m, d;
	sim_today(now_ms, &y, &m, &d);
	char birth[24];
	sim_person_birth(w, birth);
	const struct sim_household *h = sim_people_household(p, w);
	json_t *o = json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:b,s:s},s:s,s:s,s:b}",
	    "id_number", w->id_number, "name", w->name, "gender", w->gender == 'M' ? "男" : "女",
	    "gender_code", w->gender == 'M' ? "1" : "2", "birth_date", birth, "age",
	    sim_person_age(w, y, m, d), "nation", nations[w->nation], "phone", w->phone, "address",
	    w->address, "district_code", w->district, "district", sim_district_name(w->district),
	    "street", sim_street_name(w->district_idx, w->street_idx), "hukou", "shanghai",
	    w->hukou_sh, "address", w->hukou_address, "household_no", h ? h->no : "", "relation",
	    w->relation, "deceased", w->deceased);
	if (!o || !sections)
		return o;
	json_t *sb =
	    json_pack("{s:s,s:s,s:i,s:s,s:s}", "insured_type", insured_name(w->insured), "status",
	              ins_status_name(w), "contribution_months", w->contribution_months, "employer",
	              sim_employer_name(w->employer), "card_no", w->si_card);
	if (sb && w->pension_cents)
		json_object_set_new(sb, "monthly_pension", money(w->pension_cents));
	json_object_set_new(o, "shebao", sb);
	if (w->medical_region[0])
		json_object_set_new(
		    o, "yibao",
		    json_pack("{s:s,s:s,s:o}", "insured_region", w->medical_region, "insurance",
		              w->insured == SIM_INS_EMPLOYEE ? "职工基本医疗保险"
		                                             : "城乡居民基本医疗保险",
		              "account_balance", money(w->medical_balance_cents)));
	else
		json_object_set_new(o, "yibao", json_null());
	json_object_set_new(o, "minzheng",
	                    json_pack("{s:b,s:b,s:s,s:s}", "dibao", w->dibao,
	                              "elder_allowance_enrolled", w->allowance_enrolled, "bank",
	                              w->bank, "bank_account", w->bank_account));
	if (w->disability_kind)
		json_object_set_new(o, "canlian",
		                    json_pack("{s:s,s:s,s:i}", "cert_no", w->disability_cert,
		                              "kind", sim_disability_kind_name(w->disability_kind),
		                              "level", w->disability_level));
	else
		json_object_set_new(o, "canlian", json_null());
	static const char *const housing[] = {"", "租赁", "自有", "集体宿舍", "单位内部"};
	json_object_set_new(o, "gongan",
	                    json_pack("{s:s,s:s,s:s}", "elder_card", w->elder_card, "housing",
	                              housing[w->housing], "lease_filing_no", w->lease_filing));
	json_object_set_new(o, "shuiwu",
	                    json_pack("{s:b}", "deduct_agreement", w->deduct_agreement));
	return o;
}
