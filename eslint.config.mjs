// ESLint for the dashboard's front end: plain ES modules in hive_web/static/js, run in the browser
// as they are (no build step). The recommended rules only; types are tsc's job (jsconfig.json).
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["hive_web/static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: globals.browser,
    },
  },
];
