#include <stdio.h>
int main(void)
{
	puts("shouli");
	return 0;
}
