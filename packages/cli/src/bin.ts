#!/usr/bin/env node
import { createProgram } from './program.js';

void createProgram().parseAsync(process.argv);
