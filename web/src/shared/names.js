export const SYSTEM_NAME = '社区事务受理系统';
