// Element Plus with the Chinese locale, shared by the desktop entries.
import ElementPlus from 'element-plus';
import zhCn from 'element-plus/es/locale/lang/zh-cn.mjs';
import 'element-plus/dist/index.css';
import './base.css';

export function useElement(app) {
  app.use(ElementPlus, { locale: zhCn });
}
