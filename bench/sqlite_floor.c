// The floor of storing one turn's log record in SQLite: CPU per record when nothing but the
// INSERT runs (no HTTP, no JSON, no Rust), with Dialogic's logs schema, pragmas and SQLite
// version (the amalgamation bundled with libsqlite3-sys, from cargo's registry):
//
//   S=$(ls -d ~/.cargo/registry/src/*/libsqlite3-sys-0.30.1/sqlite3 | head -1)
//   gcc -O2 -I"$S" bench/sqlite_floor.c "$S/sqlite3.c" -o /tmp/sqlite_floor -lpthread -lm -ldl
//   /tmp/sqlite_floor /tmp/floor.db BATCH ROWS INDEXES    # e.g. 4 200000 2
//
// BATCH records per transaction (the writer group-commits what has queued); INDEXES: 0 = none,
// 1 = the four log indexes of migration 0001, 2 = those of migration 0002 (current).
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
static double cpu(void){struct rusage u;getrusage(RUSAGE_SELF,&u);return u.ru_utime.tv_sec+u.ru_utime.tv_usec/1e6+u.ru_stime.tv_sec+u.ru_stime.tv_usec/1e6;}
static void ex(sqlite3*db,const char*s){char*e=0;if(sqlite3_exec(db,s,0,0,&e)){fprintf(stderr,"%s: %s\n",s,e);exit(1);}}
int main(int argc,char**argv){
  int batch=atoi(argv[2]); int n=atoi(argv[3]); int idx=argc>4?atoi(argv[4]):1;
  char rec[1400]; memset(rec,'x',sizeof rec); rec[1311]=0; // a 1,311-byte record
  remove(argv[1]); char w[512]; snprintf(w,512,"%s-wal",argv[1]); remove(w); snprintf(w,512,"%s-shm",argv[1]); remove(w);
  sqlite3*db; sqlite3_open(argv[1],&db);
  ex(db,"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=1000; PRAGMA temp_store=MEMORY;");
  ex(db,"CREATE TABLE logs (log_id TEXT PRIMARY KEY NOT NULL, assistant_id TEXT NOT NULL, environment_id TEXT NOT NULL, session_id TEXT NOT NULL, customer_id TEXT, request_timestamp INTEGER NOT NULL, response_timestamp INTEGER NOT NULL, record TEXT NOT NULL);");
  if(idx==2) ex(db,"CREATE INDEX logs_assistant_order ON logs (assistant_id, request_timestamp, log_id); CREATE INDEX logs_session_order ON logs (session_id, request_timestamp, log_id); CREATE INDEX logs_customer_order ON logs (customer_id, request_timestamp, log_id) WHERE customer_id IS NOT NULL;");
  if(idx==1) ex(db,"CREATE INDEX logs_assistant_order ON logs (assistant_id, request_timestamp, log_id); CREATE INDEX logs_session_order ON logs (session_id, request_timestamp, log_id); CREATE INDEX logs_customer_order ON logs (customer_id, request_timestamp, log_id); CREATE INDEX logs_environment ON logs (environment_id);");
  sqlite3_stmt*st; sqlite3_prepare_v2(db,"INSERT INTO logs VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",-1,&st,0);
  double c0=cpu(); struct timespec t0,t1; clock_gettime(CLOCK_MONOTONIC,&t0);
  long long ts=1765000000000000LL; char id[40],sid[40];
  for(int i=0;i<n;i+=batch){
    ex(db,"BEGIN IMMEDIATE");
    for(int j=0;j<batch;j++){ long long k=i+j;
      snprintf(id,40,"01a24d7d-%04llx-72be-ac52-%012llx",(k>>16)&0xffff,k*7919); // time-ordered prefix
      snprintf(sid,40,"01a24d7d-%04llx-72be-ac52-%012llx",(k>>16)&0xffff,k*7919+1);
      sqlite3_bind_text(st,1,id,-1,SQLITE_STATIC); sqlite3_bind_text(st,2,"demo",-1,SQLITE_STATIC);
      sqlite3_bind_text(st,3,"live",-1,SQLITE_STATIC); sqlite3_bind_text(st,4,sid,-1,SQLITE_STATIC);
      sqlite3_bind_null(st,5); sqlite3_bind_int64(st,6,ts+k*50); sqlite3_bind_int64(st,7,ts+k*50+40);
      sqlite3_bind_text(st,8,rec,-1,SQLITE_STATIC);
      if(sqlite3_step(st)!=SQLITE_DONE){fprintf(stderr,"step\n");return 1;} sqlite3_reset(st);}
    ex(db,"COMMIT");
  }
  double c=cpu()-c0; clock_gettime(CLOCK_MONOTONIC,&t1);
  double wall=(t1.tv_sec-t0.tv_sec)+(t1.tv_nsec-t0.tv_nsec)/1e9;
  printf("batch %3d indexes %d: %.2f us CPU per record, %.0f records/s wall\n",batch,idx,c*1e6/n,n/wall);
  return 0;}
