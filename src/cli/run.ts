// Runs the `capstan` command with this process's arguments (what bin/capstan.js loads).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
